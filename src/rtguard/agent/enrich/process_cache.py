"""The agent's process table: raw sensor records in, enriched model events out.

Keyed by host pid, each entry holds the current image of a process with a stable exec id
(derived from boot id, pid, start time and exec time, so it survives pid reuse) and the exec
id of its parent, which gives every event a full lineage, also for processes that started
before the agent (seeded from the procfs snapshot). This is the only module that holds agent
state about processes. It must not do I/O itself: look-ups (live /proc data, container and
ECS resolution, hashing) are injected as callables, so that it stays testable and the hot
path never raises.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from rtguard.agent.sensors.records import ExecRecord, ExitRecord, ForkRecord, Record
from rtguard.model.events import (
    Container,
    Event,
    EventKind,
    ExecPayload,
    ExitPayload,
    Host,
    LineageEntry,
    Process,
)

MAX_LINEAGE: Final = 8
_CLK_TCK_NS: Final = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveDetails:
    """What can be read from a live process at enrichment time (empty when it is gone)."""

    exe_path: str = ""
    cwd: str = ""
    ld_preload: str = ""
    ld_library_path: str = ""
    user_name: str = ""
    stdio_sockets: tuple[bool, bool, bool] = (False, False, False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookups:
    """Injected look-ups. Each must be total: return an empty value, never raise."""

    live: Callable[[int], LiveDetails | None]
    container: Callable[[str, int], Container | None]
    sha256: Callable[[int, str, ExecRecord], str]
    user_name: Callable[[int], str]


def _no_live(_pid: int) -> LiveDetails | None:
    return None


def _no_container(_cgroup: str, _pid: int) -> Container | None:
    return None


def _no_hash(_pid: int, _path: str, _rec: ExecRecord) -> str:
    return ""


def _no_user(_uid: int) -> str:
    return ""


NO_LOOKUPS: Final = Lookups(live=_no_live, container=_no_container, sha256=_no_hash, user_name=_no_user)


def make_exec_id(boot_id: str, pid: int, start_boottime: int, exec_ktime: int) -> str:
    """A stable process-image id: boot id, pid, start time (in clock ticks) and exec time."""
    ticks = start_boottime // _CLK_TCK_NS
    raw = f"{boot_id}:{pid}:{ticks}:{exec_ktime}".encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


@dataclass(slots=True)
class _Entry:
    process: Process
    container: Container | None
    cgroup_path: str


class ProcessTable:
    """Process table and enrichment. Not thread-safe: the sensor thread owns it.

    Args:
        host: the host every event is attributed to.
        lookups: injected look-ups (live /proc data, container resolution, hashing, users).
        max_entries: bound on the table; the oldest entries go first when it is full (counted
            in ``evicted``).
        wall_offset_ns: added to a kernel monotonic time to get wall-clock time; computed
            at construction when not given.
    """

    def __init__(
        self,
        host: Host,
        lookups: Lookups = NO_LOOKUPS,
        *,
        max_entries: int = 65_536,
        wall_offset_ns: int | None = None,
    ) -> None:
        self._host = host
        self._lookups = lookups
        self._max = max_entries
        self._table: OrderedDict[int, _Entry] = OrderedDict()
        self._boot_offset = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        self._mono_offset = (
            wall_offset_ns
            if wall_offset_ns is not None
            else time.time_ns() - time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        )
        self.evicted = 0
        self.exits_unknown = 0

    def __len__(self) -> int:
        return len(self._table)

    def get(self, pid: int) -> Process | None:
        """The current image of ``pid``, or ``None`` when the table does not know it."""
        entry = self._table.get(pid)
        return entry.process if entry else None

    def load_snapshot(self, records: list[ExecRecord]) -> None:
        """Seed the table with processes that were running before the agent started."""
        for rec in sorted(records, key=lambda r: r.start_boottime):
            self._put(rec.pid, self._build(rec, live=None))

    def on_record(self, rec: Record) -> Event | None:
        """Apply one record; return the event to export, or ``None`` (fork and unknown exits)."""
        match rec:
            case ExecRecord():
                entry = self._build(rec, live=self._lookups.live(rec.pid))
                self._put(rec.pid, entry)
                return self._event(
                    EventKind.PROCESS_EXEC, rec.ktime, entry, ExecPayload(filename=rec.filename)
                )
            case ForkRecord():
                self._on_fork(rec)
                return None
            case ExitRecord():
                gone = self._table.pop(rec.pid, None)
                if gone is None:
                    self.exits_unknown += 1
                    return None
                return self._event(
                    EventKind.PROCESS_EXIT, rec.ktime, gone, ExitPayload(exit_code=rec.exit_code)
                )
        return None

    # ------------------------------------------------------------------ internals

    def _on_fork(self, rec: ForkRecord) -> None:
        parent = self._table.get(rec.parent_pid)
        if parent is None:
            return
        child_id = make_exec_id(self._host.boot_id, rec.child_pid, rec.child_start_boottime, 0)
        child = replace(
            parent.process,
            exec_id=child_id,
            parent_exec_id=parent.process.exec_id,
            pid=rec.child_pid,
            ppid=rec.parent_pid,
            ns_pid=0,
            start_time=self._boot_offset + rec.child_start_boottime if rec.child_start_boottime else 0,
        )
        self._put(
            rec.child_pid, _Entry(process=child, container=parent.container, cgroup_path=parent.cgroup_path)
        )

    def _build(self, rec: ExecRecord, live: LiveDetails | None) -> _Entry:
        parent = self._table.get(rec.ppid)
        parent_id = parent.process.exec_id if parent else ""
        if not parent_id and rec.ppid:
            parent_id = make_exec_id(self._host.boot_id, rec.ppid, rec.parent_start_boottime, 0)
        exe_path = (live.exe_path if live and live.exe_path else "") or rec.filename
        cwd = rec.cwd or (live.cwd if live else "")
        if exe_path and not exe_path.startswith("/") and cwd.startswith("/"):
            exe_path = os.path.normpath(os.path.join(cwd, exe_path))
        container = self._container(rec, parent)
        argv = rec.argv
        name = os.path.basename(exe_path) if exe_path else rec.comm
        user = live.user_name if live and live.user_name else self._lookups.user_name(rec.uid)
        process = Process(
            exec_id=make_exec_id(self._host.boot_id, rec.pid, rec.start_boottime, rec.ktime),
            parent_exec_id=parent_id,
            pid=rec.pid,
            ns_pid=rec.ns_pid,
            ppid=rec.ppid,
            name=name,
            exe_path=exe_path,
            exe_sha256=self._lookups.sha256(rec.pid, exe_path, rec),
            argv=argv,
            argv_truncated=rec.argv_truncated,
            cwd=cwd,
            uid=rec.uid,
            euid=rec.euid,
            gid=rec.gid,
            egid=rec.egid,
            user_name=user,
            start_time=self._boot_offset + rec.start_boottime if rec.start_boottime else 0,
            ld_preload=live.ld_preload if live else "",
            ld_library_path=live.ld_library_path if live else "",
            exe_from_memfd=exe_path.startswith("/memfd:"),
            stdio_sockets=live.stdio_sockets if live else (False, False, False),
        )
        return _Entry(process=process, container=container, cgroup_path=rec.cgroup_path)

    def _container(self, rec: ExecRecord, parent: _Entry | None) -> Container | None:
        if parent is not None and parent.cgroup_path == rec.cgroup_path and parent.container is not None:
            return parent.container
        if not rec.cgroup_path:
            return parent.container if parent else None
        return self._lookups.container(rec.cgroup_path, rec.pid)

    def _put(self, pid: int, entry: _Entry) -> None:
        self._table[pid] = entry
        self._table.move_to_end(pid)
        while len(self._table) > self._max:
            self._table.popitem(last=False)
            self.evicted += 1

    def _lineage(self, process: Process) -> tuple[LineageEntry, ...]:
        out: list[LineageEntry] = []
        seen = {process.pid}
        pid = process.ppid
        while pid and pid not in seen and len(out) < MAX_LINEAGE:
            seen.add(pid)
            entry = self._table.get(pid)
            if entry is None:
                break
            p = entry.process
            out.append(
                LineageEntry(
                    exec_id=p.exec_id,
                    parent_exec_id=p.parent_exec_id,
                    pid=p.pid,
                    ns_pid=p.ns_pid,
                    name=p.name,
                    exe_path=p.exe_path,
                    uid=p.uid,
                    euid=p.euid,
                    start_time=p.start_time,
                )
            )
            pid = p.ppid
        return tuple(out)

    def _event(self, kind: EventKind, ktime: int, entry: _Entry, payload: ExecPayload | ExitPayload) -> Event:
        wall = self._mono_offset + ktime if ktime else time.time_ns()
        return Event(
            kind=kind,
            time=wall,
            ktime=ktime,
            host=self._host,
            process=entry.process,
            lineage=self._lineage(entry.process),
            container=entry.container,
            payload=payload,
        )
