"""Execution:Runtime/NewLibraryLoaded: a shared library created or modified in a container after
it started is loaded by a process.

The sensor reports a ``library_load`` when a process maps a file executable (``mmap`` with
``PROT_EXEC``) that lies on the container's overlay upper layer, once per container and file
(``LibraryPayload.written_after_start``). This detector also remembers, per container, which
process last wrote, renamed or hard-linked each watched path (``file_write``, ``file_rename``,
``file_link``) and when; a load of a library it saw written, or that the sensor flags as written
after start, is reported with ``libraryPath`` and, when the write was seen, ``modifyingProcess``
and ``modifiedAt``. The finding's process is the one that loaded the library. The aggregation
key's artefact is the library path (same task or container and path → same finding).

Benign case, decided: libraries put in place by an installer are not reported. An installer is
a package manager (dpkg, apt, rpm, apk, …), a language package installer (pip, ``python -m
pip``, uv, poetry, conda, npm, yarn, gem, …, also when run as an interpreter's script), or any
process started by one (the compiler and linker building a native extension during ``pip
install`` or ``npm install``), as ``_common.is_installer`` (shared with NewBinaryExecuted)
recognises them; installers are also remembered by ``exec_id`` when they start, and so is
every process their descendants exec (through the parent's exec id), so that a descendant
whose ancestors are only named ``node`` or ``python3`` is still known. A write is
judged when it happens. This follows NewBinaryExecuted (package installs are not "new
binaries") and GuardDuty's "only suspicious instances": installing software at runtime is not
a library hijack, and an attacker who installs a package is not seen by this type. Programs that unpack their own native code to a temporary directory and load it
(some Java libraries do) are reported; suppress them by library path. Host processes are not
reported (the type is container-only). Must not do I/O; state is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from rtguard.detect.detectors._common import INSTALLERS, BoundedMap, is_installer, iso_time
from rtguard.model.events import Event, EventKind, FilePayload, LibraryPayload, Process
from rtguard.model.findings import Detection

FINDING_TYPE: Final = "Execution:Runtime/NewLibraryLoaded"
_WRITES: Final = frozenset({EventKind.FILE_WRITE, EventKind.FILE_RENAME, EventKind.FILE_LINK})


_INTERPRETERS: Final = ("node", "nodejs", "python", "ruby", "php", "perl", "env")
_PIP_MODULES: Final = frozenset({"pip", "pip3", "ensurepip", "uv", "poetry", "conda"})


def _starts_installer(p: Process) -> bool:
    """The exec itself starts an installer (name, argv[0], an interpreter's script or ``-m``);
    the cheap test run on every exec (ancestors are handled through the parent's exec id)."""
    if p.name in INSTALLERS:
        return True
    argv = p.argv
    if not argv:
        return False
    first = argv[0].rsplit("/", 1)[-1]
    if first in INSTALLERS:
        return True
    if len(argv) < 2 or not (first.startswith(_INTERPRETERS) or p.name.startswith(_INTERPRETERS)):
        return False
    if argv[1].rsplit("/", 1)[-1] in INSTALLERS:
        return True
    return any(argv[i] == "-m" and argv[i + 1] in _PIP_MODULES for i in range(1, len(argv) - 1))


@dataclass(frozen=True, slots=True)
class _Write:
    process: str
    time: int
    installer: bool


@dataclass(slots=True)
class NewLibraryState:
    """Last writer of each path, keyed ``container-id:path``, and the ``exec_id`` of every
    installer process and of what installers started."""

    writes: BoundedMap[_Write] = field(default_factory=lambda: BoundedMap(50_000))
    installers: BoundedMap[bool] = field(default_factory=lambda: BoundedMap(10_000))

    def is_installer(self, event: Event) -> bool:
        """The process, or one of its ancestors, is an installer."""
        if self.installers.get(event.process.exec_id) or is_installer(event):
            return True
        return any(self.installers.get(entry.exec_id) is not None for entry in event.lineage)


class NewLibraryDetector:
    """See the module docstring."""

    rule_id: Final = "RTG-0134"
    kinds: Final = frozenset({*_WRITES, EventKind.LIBRARY_LOAD, EventKind.PROCESS_EXEC})

    def new_state(self) -> NewLibraryState:
        return NewLibraryState()

    def on_event(self, event: Event, state: NewLibraryState) -> list[Detection]:
        container = event.container
        if container is None:
            return []
        payload = event.payload
        if event.kind is EventKind.PROCESS_EXEC:
            p = event.process
            if (p.parent_exec_id and state.installers.get(p.parent_exec_id)) or _starts_installer(p):
                state.installers.put(p.exec_id, True)
            return []
        if isinstance(payload, FilePayload):
            path = payload.target_path if event.kind is not EventKind.FILE_WRITE else payload.path
            if path:
                p = event.process
                state.writes.put(
                    f"{container.id}:{path}",
                    _Write(p.exe_path or p.name, event.time, state.is_installer(event)),
                )
            return []
        if not isinstance(payload, LibraryPayload) or not payload.path:
            return []
        path = payload.path
        write = state.writes.get(f"{container.id}:{path}")
        if write is None and not payload.written_after_start:
            return []
        if write is not None and write.installer:
            return []
        context: dict[str, str | list[str]] = {"libraryPath": path}
        if write is not None:
            context["modifyingProcess"] = write.process
            context["modifiedAt"] = iso_time(write.time)
        return [
            Detection(
                finding_type=FINDING_TYPE,
                event=event,
                rule_id=self.rule_id,
                artifact=path,
                context=context,
                description=f"New library loaded in container: {path} by {event.process.exe_path or event.process.name}",
            )
        ]
