"""Execution:Runtime/NewBinaryExecuted: a binary created or modified in a container after it
started is executed.

Remembers, per container, which process last wrote, renamed or linked each watched path and
when; an exec in a container of an executable the sensor flags as written after the container
started (``exe_written_after_start``), or of a path remembered here, is reported with
``modifyingProcess`` and ``modifiedAt`` when known. Binaries put in place by an installer
(a package manager, ``pip``/``python -m pip``, npm, ... or a process one of them started,
judged at the time of the write: ``_common.is_installer``) are installed software, not new
binaries, and are not reported; a binary written by anything else and run is, including one
compiled in the container (attackers build exploits there the same way). Programs run from a
memfd (FilelessExecution's business) are not reported. Must not do I/O; state is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from rtguard.detect.detectors._common import BoundedMap, is_installer, iso_time
from rtguard.model.events import Event, EventKind, FilePayload
from rtguard.model.findings import Detection

FINDING_TYPE: Final = "Execution:Runtime/NewBinaryExecuted"
_WRITES: Final = frozenset(
    {EventKind.FILE_WRITE, EventKind.FILE_RENAME, EventKind.FILE_LINK, EventKind.FILE_CHMOD}
)


@dataclass(frozen=True, slots=True)
class _Write:
    process: str
    time: int
    installer: bool


@dataclass(slots=True)
class NewBinaryState:
    """Last writer of each path, keyed ``container-id:path``."""

    writes: BoundedMap[_Write] = field(default_factory=lambda: BoundedMap(50_000))


class NewBinaryDetector:
    """See the module docstring."""

    rule_id: Final = "RTG-0130"
    kinds: Final = frozenset({*_WRITES, EventKind.PROCESS_EXEC})

    def new_state(self) -> NewBinaryState:
        return NewBinaryState()

    def on_event(self, event: Event, state: NewBinaryState) -> list[Detection]:
        container = event.container
        if container is None:
            return []
        p = event.process
        payload = event.payload
        if isinstance(payload, FilePayload):
            path = (
                payload.target_path
                if event.kind in (EventKind.FILE_RENAME, EventKind.FILE_LINK)
                else payload.path
            )
            if path:
                state.writes.put(
                    f"{container.id}:{path}", _Write(p.exe_path or p.name, event.time, is_installer(event))
                )
            return []
        if p.exe_from_memfd or not p.exe_path:
            return []
        write = state.writes.get(f"{container.id}:{p.exe_path}")
        if write is None and not p.exe_written_after_start:
            return []
        if write is not None and write.installer:
            return []
        context: dict[str, str | list[str]] = {}
        if write is not None:
            context = {"modifyingProcess": write.process, "modifiedAt": iso_time(write.time)}
        return [
            Detection(
                finding_type=FINDING_TYPE,
                event=event,
                rule_id=self.rule_id,
                artifact=p.exe_sha256 or p.exe_path,
                context=context,
                description=f"New binary executed in container: {p.exe_path}",
            )
        ]
