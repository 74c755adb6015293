"""Small helpers shared by the behavioural detectors: a bounded recency map, shell names and
whether a shell reads its commands from its standard input.

This module must not hold detector logic and must not do I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, Generic, TypeVar

from rtguard.model.events import Event, Process

V = TypeVar("V")

SHELL_NAMES: Final = frozenset(
    {"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox"}
)


class BoundedMap(Generic[V]):
    """A dict that forgets its oldest insertions beyond ``limit`` (state must stay bounded)."""

    __slots__ = ("_data", "_limit")

    def __init__(self, limit: int) -> None:
        self._data: dict[str, V] = {}
        self._limit = limit

    def put(self, key: str, value: V) -> None:
        data = self._data
        data[key] = value
        if len(data) > self._limit:
            del data[next(iter(data))]

    def get(self, key: str) -> V | None:
        return self._data.get(key)

    def pop(self, key: str) -> V | None:
        return self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)


# Programs that relay a network connection to a child's stdio (``socat TCP:host:port EXEC:sh``
# gives the shell a socketpair): a shell on a unix socket of one of these is on the network.
RELAY_TOOLS: Final = frozenset(
    {"socat", "nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "busybox", "pwncat", "cryptcat"}
)
# Standard input that cannot be a session: a script piped or redirected in, or /dev/null.
NON_INTERACTIVE_STDIN: Final = frozenset({"pipe", "file", "char"})


def stdio_type(p: Process, fd: int) -> str:
    """What fd 0/1/2 was at exec (``Process.stdio_types``); from sensors that cannot tell the
    type, ``"socket"`` for a socket and ``""`` otherwise."""
    kind = p.stdio_types[fd]
    if kind:
        return kind
    return "socket" if p.stdio_sockets[fd] else ""


def is_shell(event: Event) -> bool:
    """The process is a shell: by executable name, or a busybox/argv[0] shell applet."""
    p = event.process
    if p.name in SHELL_NAMES and p.name != "busybox":
        return True
    argv0 = p.argv[0].rsplit("/", 1)[-1].lstrip("-") if p.argv else ""
    return argv0 in SHELL_NAMES and argv0 != "busybox"


# Programs whose job is to install software: system package managers and language package
# installers. Binaries they (or what they start) write are installed software, not new binaries.
INSTALLERS: Final = frozenset(
    {
        "dpkg",
        "apt",
        "apt-get",
        "aptitude",
        "unattended-upgrade",
        "rpm",
        "yum",
        "dnf",
        "microdnf",
        "zypper",
        "apk",
        "pacman",
        "pip",
        "pip3",
        "uv",
        "poetry",
        "pipenv",
        "conda",
        "mamba",
        "micromamba",
        "npm",
        "npm-cli.js",
        "yarn",
        "pnpm",
        "gem",
        "bundle",
        "bundler",
        "composer",
    }
)
_INSTALLER_MODULES: Final = frozenset({"pip", "pip3", "ensurepip", "uv", "poetry", "conda"})
_SCRIPT_INTERPRETERS: Final = ("node", "nodejs", "python", "ruby", "php", "perl")


def is_installer(event: Event) -> bool:
    """The acting process is an installer or was started by one.

    Recognised by the name of the executable that runs (never argv[0] alone: ``exec -a pip``
    costs nothing; and never a program written in the container after it started), the script an interpreter runs (``node
    /usr/bin/npm``: npm and yarn are scripts started through ``/usr/bin/env``, so the process
    is ``node``), a module run with ``-m`` (``python3 -m pip``), or an ancestor's name (the
    compiler building a native extension, a maintainer script under dpkg).
    """
    p = event.process
    if p.exe_written_after_start or p.exe_from_memfd:
        return False  # a program dropped in the container is no installer, whatever its name
    if p.name in INSTALLERS:
        return True
    argv = p.argv
    if argv:
        # argv[0] is whatever the caller chose (``exec -a pip …``): it names the interpreter
        # only when it agrees with the executable that runs.
        first = argv[0].rsplit("/", 1)[-1]
        if (
            len(argv) > 1
            and p.name.startswith(_SCRIPT_INTERPRETERS)
            and first.startswith(_SCRIPT_INTERPRETERS)
        ):
            if argv[1].rsplit("/", 1)[-1] in INSTALLERS:
                return True
            for i in range(1, len(argv) - 1):
                if argv[i] == "-m" and argv[i + 1] in _INSTALLER_MODULES:
                    return True
    return any(entry.name in INSTALLERS for entry in event.lineage)


# Shell options whose value is the next argument (sh/dash/bash -o, bash -O/+O, --rcfile).
_SHELL_OPTIONS_WITH_VALUE: Final = frozenset({"o", "O"})
_SHELL_LONG_OPTIONS_WITH_VALUE: Final = frozenset({"--rcfile", "--init-file"})


def reads_commands_from_stdin(argv: Sequence[str]) -> bool:
    """The shell started with ``argv`` takes its commands from standard input: a session.

    POSIX ``sh`` (and bash, dash, zsh, busybox ash) reads commands from standard input when it
    is given ``-i`` or ``-s``, or when it has neither ``-c`` (a command string) nor a script
    operand (the first argument after the options). ``sh -c 'cmd'`` (``-ec``, ``-xc``, ...)
    and ``sh script.sh`` (also a ``#!/bin/sh`` script run directly, whose argv the kernel makes
    ``/bin/sh script.sh``) run fixed commands, not a session.
    """
    args = list(argv[1:])
    i = 0
    interactive = command = False
    while i < len(args):
        arg = args[i]
        if arg in ("--", "-"):
            i += 1
            break
        if arg.startswith("--"):
            i += 2 if arg in _SHELL_LONG_OPTIONS_WITH_VALUE else 1
            continue
        if len(arg) > 1 and arg[0] in "-+":
            flags = arg[1:]
            if arg[0] == "-":
                interactive = interactive or "i" in flags or "s" in flags
                command = command or "c" in flags
            i += 1 + sum(flags.count(f) for f in _SHELL_OPTIONS_WITH_VALUE)
            continue
        break
    if interactive:
        return True
    return not command and i >= len(args)


def iso_time(ns: int) -> str:
    """Nanoseconds since the epoch as GuardDuty's ISO-8601 text (``2026-01-02T03:04:05.000Z``)."""
    dt = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def ancestry_ids(event: Event, depth: int = 3) -> list[str]:
    """The process's own ``exec_id``, then its parent's and ancestors' up to ``depth``."""
    p = event.process
    ids = [p.exec_id]
    if p.parent_exec_id:
        ids.append(p.parent_exec_id)
    for entry in event.lineage[:depth]:
        if entry.exec_id not in ids:
            ids.append(entry.exec_id)
    return ids
