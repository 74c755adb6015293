"""Pure parsers for the text files under ``/proc/<pid>/`` and for ``/etc/passwd``.

Bytes or text in, plain data out: ``stat``, ``status``, ``cgroup``, ``environ`` (loader
variables only), ``cmdline``, ``mountinfo``, namespace links and passwd files. Everything here
may be written by a hostile process (``comm`` can hold spaces, parentheses and newlines, a
container can name its cgroups), so every parser either returns data or raises
``ProcParseError``, never anything else. This module must not do I/O, must not keep state and
must not import anything outside the standard library and ``rtguard.model``; the reading is
``rtguard.agent.sensors.procfs.snapshot``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "LOADER_ENV_KEYS",
    "PF_KTHREAD",
    "MountInfo",
    "ProcParseError",
    "ProcStat",
    "ProcStatus",
    "cgroup_path",
    "decode_text",
    "parse_cgroup",
    "parse_cmdline",
    "parse_environ",
    "parse_mountinfo",
    "parse_ns_link",
    "parse_passwd",
    "parse_stat",
    "parse_status",
    "start_boottime_ns",
]

PF_KTHREAD: Final = 0x00200000
"""``task->flags`` bit for kernel threads (field 9 of ``stat``)."""

LOADER_ENV_KEYS: Final = ("LD_PRELOAD", "LD_LIBRARY_PATH")
"""The only environment variables the agent keeps: the rest may hold secrets."""

DEFAULT_MAX_ARGV_BYTES: Final = 64 * 1024

_STAT_MIN_FIELDS: Final = 20  # fields after "comm", up to and including starttime (field 22)
_NS_LINK: Final = re.compile(r"[a-z_]+:\[([0-9]+)\]")
_STATUS_ESCAPES: Final = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "f": "\f",
    "v": "\v",
    "a": "\a",
    "e": "\x1b",
    "\\": "\\",
    '"': '"',
}


class ProcParseError(ValueError):
    """A ``/proc`` file did not have the expected shape; the message says which part."""


def decode_text(data: bytes) -> str:
    """Decode bytes from a process as UTF-8, keeping undecodable bytes as ``\\xNN`` escapes.

    The result is always valid UTF-8 (safe for JSON) and loses no information an analyst needs.
    """
    return data.decode("utf-8", "backslashreplace")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the agent uses; ``starttime`` is in clock ticks."""

    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    session: int
    tty_nr: int
    flags: int
    utime: int
    stime: int
    num_threads: int
    starttime: int

    @property
    def is_kernel_thread(self) -> bool:
        """True for kernel threads (no user-space image, nothing to enrich)."""
        return bool(self.flags & PF_KTHREAD)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProcParseError(f"{what}: not an integer: {text[:40]!r}") from None


def parse_stat(data: bytes | str) -> ProcStat:
    """Parse ``/proc/<pid>/stat``.

    ``comm`` sits between the first ``(`` and the *last* ``)``: the kernel does not escape it,
    so a process named ``a) b (c`` is legal and only the last parenthesis ends the name.

    Raises:
        ProcParseError: when the text is not a stat line.
    """
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
    open_at = raw.find(b" (")
    close_at = raw.rfind(b")")
    if open_at <= 0 or close_at < open_at:
        raise ProcParseError("stat: no '(comm)'")
    pid = _int(decode_text(raw[:open_at]).strip(), "stat pid")
    comm = decode_text(raw[open_at + 2 : close_at])
    rest = decode_text(raw[close_at + 1 :]).split()
    if len(rest) < _STAT_MIN_FIELDS:
        raise ProcParseError(f"stat: {len(rest)} fields after comm, need {_STAT_MIN_FIELDS}")
    # rest[0] is field 3 (state): field n of proc(5) is rest[n - 3].
    return ProcStat(
        pid=pid,
        comm=comm,
        state=rest[0],
        ppid=_int(rest[1], "stat ppid"),
        pgrp=_int(rest[2], "stat pgrp"),
        session=_int(rest[3], "stat session"),
        tty_nr=_int(rest[4], "stat tty_nr"),
        flags=_int(rest[6], "stat flags"),
        utime=_int(rest[11], "stat utime"),
        stime=_int(rest[12], "stat stime"),
        num_threads=_int(rest[17], "stat num_threads"),
        starttime=_int(rest[19], "stat starttime"),
    )


def start_boottime_ns(starttime_ticks: int, clk_tck: int) -> int:
    """Convert ``stat`` ``starttime`` (clock ticks since boot) to CLOCK_BOOTTIME nanoseconds."""
    if clk_tck <= 0:
        raise ProcParseError(f"clock ticks per second must be positive, got {clk_tck}")
    return starttime_ticks * 1_000_000_000 // clk_tck


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcStatus:
    """The fields of ``/proc/<pid>/status`` the agent uses.

    ``ns_pids`` is the ``NSpid`` line, outermost (host) first; ``ns_pid`` is the innermost, the
    pid the process sees for itself in its own pid namespace.
    """

    name: str
    tgid: int
    pid: int
    ppid: int
    uid: int
    euid: int
    suid: int
    fsuid: int
    gid: int
    egid: int
    ns_pids: tuple[int, ...]
    cap_eff: int = 0
    no_new_privs: bool = False

    @property
    def ns_pid(self) -> int:
        """The innermost namespace pid (equal to ``pid`` outside containers)."""
        return self.ns_pids[-1] if self.ns_pids else self.pid


def _unescape_status_name(value: str) -> str:
    # The kernel writes the Name line with string_escape_str(ESCAPE_SPACE | ESCAPE_SPECIAL):
    # "\n" becomes "\\n", "\\" becomes "\\\\" and so on.
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value) and value[i + 1] in _STATUS_ESCAPES:
            out.append(_STATUS_ESCAPES[value[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _ids(fields: dict[str, str], key: str) -> tuple[int, int, int, int]:
    parts = fields.get(key, "").split()
    if len(parts) != 4:
        raise ProcParseError(f"status: {key} needs 4 ids, got {len(parts)}")
    a, b, c, d = (_int(p, f"status {key}") for p in parts)
    return a, b, c, d


def parse_status(data: bytes | str) -> ProcStatus:
    """Parse ``/proc/<pid>/status``.

    Raises:
        ProcParseError: when a required line (Tgid, Pid, PPid, Uid, Gid) is missing or bad.
    """
    text = decode_text(data) if isinstance(data, bytes) else data
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        key, sep, value = line.partition(":")
        if sep and key not in fields:
            fields[key] = value.strip(" \t")
    for key in ("Tgid", "Pid", "PPid"):
        if key not in fields:
            raise ProcParseError(f"status: no {key} line")
    uid, euid, suid, fsuid = _ids(fields, "Uid")
    gid, egid, _sgid, _fsgid = _ids(fields, "Gid")
    pid = _int(fields["Pid"], "status Pid")
    ns_pids = tuple(_int(p, "status NSpid") for p in fields.get("NSpid", "").split())
    cap_text = fields.get("CapEff", "0") or "0"
    try:
        cap_eff = int(cap_text, 16)
    except ValueError:
        raise ProcParseError(f"status: CapEff not hex: {cap_text[:40]!r}") from None
    return ProcStatus(
        name=_unescape_status_name(fields.get("Name", "")),
        tgid=_int(fields["Tgid"], "status Tgid"),
        pid=pid,
        ppid=_int(fields["PPid"], "status PPid"),
        uid=uid,
        euid=euid,
        suid=suid,
        fsuid=fsuid,
        gid=gid,
        egid=egid,
        ns_pids=ns_pids or (pid,),
        cap_eff=cap_eff,
        no_new_privs=fields.get("NoNewPrivs", "0").strip() == "1",
    )


def parse_cgroup(data: bytes | str) -> dict[str, str]:
    """Parse ``/proc/<pid>/cgroup`` into a mapping controller → path.

    Each v1 line ``ID:ctrl1,ctrl2:/path`` gives one entry per controller (named hierarchies
    keep their ``name=`` prefix, e.g. ``name=systemd``); the cgroup v2 line ``0::/path`` is
    stored under the empty key ``""``. The path is everything after the second colon, so paths
    holding colons survive. Malformed lines are skipped: the kernel does not escape cgroup
    names, and a hostile one must not hide the other lines.
    """
    text = decode_text(data) if isinstance(data, bytes) else data
    result: dict[str, str] = {}
    for line in text.split("\n"):
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[2].startswith("/"):
            continue
        _hier, controllers, path = parts
        if not controllers:
            result.setdefault("", path)
            continue
        for ctrl in controllers.split(","):
            if ctrl:
                result.setdefault(ctrl, path)
    return result


def cgroup_path(cgroups: dict[str, str]) -> str:
    """The one cgroup path that names a container: the v1 memory controller, else v2 ``0::``.

    On cgroup v1 hybrid hosts the v2 path may be ``/`` while the memory controller holds the
    container's path; on pure v2 hosts only ``0::`` exists. Returns ``""`` when neither is there.
    """
    memory = cgroups.get("memory")
    if memory:
        return memory
    return cgroups.get("", "")


def parse_environ(data: bytes) -> dict[str, str]:
    """Extract only ``LD_PRELOAD`` and ``LD_LIBRARY_PATH`` from ``/proc/<pid>/environ``.

    Every other variable is dropped unread (environments carry secrets). When a key repeats,
    the first wins, as with glibc's ``getenv``.
    """
    result: dict[str, str] = {}
    for entry in data.split(b"\0"):
        for key in LOADER_ENV_KEYS:
            prefix = key.encode() + b"="
            if key not in result and entry.startswith(prefix):
                result[key] = decode_text(entry[len(prefix) :])
    return result


def parse_cmdline(data: bytes, *, max_bytes: int = DEFAULT_MAX_ARGV_BYTES) -> tuple[tuple[str, ...], bool]:
    """Split ``/proc/<pid>/cmdline`` into argv; return ``(argv, truncated)``.

    Arguments are NUL-terminated. A process that rewrote its argv area (setproctitle) may
    leave no NULs: the whole text is then one argument. Input longer than ``max_bytes`` is cut
    at an argument boundary where possible and flagged as truncated. Kernel threads give
    ``((), False)``.
    """
    truncated = False
    if len(data) > max_bytes:
        data = data[:max_bytes]
        truncated = True
        cut = data.rfind(b"\0")
        if cut >= 0:
            data = data[: cut + 1]
    if not data:
        return (), truncated
    if data.endswith(b"\0"):
        data = data[:-1]
    return tuple(decode_text(arg) for arg in data.split(b"\0")), truncated


@dataclass(frozen=True, slots=True, kw_only=True)
class MountInfo:
    """One line of ``/proc/<pid>/mountinfo`` (paths unescaped)."""

    mount_id: int
    parent_id: int
    major: int
    minor: int
    root: str
    mount_point: str
    options: str
    fstype: str
    source: str
    super_options: str


_OCTAL_ESCAPE: Final = re.compile(r"\\([0-7]{3})")


def _unescape_octal(value: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), value)


def parse_mountinfo(data: bytes | str) -> list[MountInfo]:
    """Parse ``/proc/<pid>/mountinfo``; malformed lines are skipped.

    The kernel escapes space, tab, newline and backslash in paths as ``\\NNN`` octal; those
    are decoded here.
    """
    text = decode_text(data) if isinstance(data, bytes) else data
    mounts: list[MountInfo] = []
    for line in text.split("\n"):
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 4 or ":" not in fields[2]:
            continue
        major_text, _, minor_text = fields[2].partition(":")
        try:
            mounts.append(
                MountInfo(
                    mount_id=int(fields[0]),
                    parent_id=int(fields[1]),
                    major=int(major_text),
                    minor=int(minor_text),
                    root=_unescape_octal(fields[3]),
                    mount_point=_unescape_octal(fields[4]),
                    options=fields[5],
                    fstype=fields[sep + 1],
                    source=_unescape_octal(fields[sep + 2]),
                    super_options=fields[sep + 3],
                )
            )
        except ValueError:
            continue
    return mounts


def parse_ns_link(target: str) -> int:
    """Inode number of a namespace link target such as ``mnt:[4026531841]``.

    Raises:
        ProcParseError: when the text is not a namespace link.
    """
    match = _NS_LINK.fullmatch(target)
    if match is None:
        raise ProcParseError(f"not a namespace link: {target[:60]!r}")
    return int(match.group(1))


def parse_passwd(data: bytes | str) -> dict[int, str]:
    """Map uid → user name from an ``/etc/passwd`` file; the first entry for a uid wins.

    Comment lines, NIS ``+``/``-`` lines and malformed lines are skipped.
    """
    text = decode_text(data) if isinstance(data, bytes) else data
    users: dict[int, str] = {}
    for line in text.split("\n"):
        fields = line.split(":")
        if len(fields) < 3 or not fields[0] or fields[0][0] in "#+-":
            continue
        if not fields[2].isdigit() or not fields[2].isascii():
            continue
        users.setdefault(int(fields[2]), fields[0])
    return users
