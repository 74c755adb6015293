"""The agent's process table: raw sensor records in, enriched model events out.

Keyed by host pid, each entry holds the current image of a process with a stable exec id
(derived from boot id, pid, start time and exec time, so it survives pid reuse) and the exec
id of its parent, which gives every event a full lineage, also for processes that started
before the agent (seeded from the procfs snapshot). Every other record (network, DNS, files,
process and privilege operations, mounts) becomes an event of the acting process from the
table; ptrace and process_vm_writev also carry the target process. DNS queries are held until
their answer comes (or a timeout) so that one ``dns_query`` event carries name, type, answers
and rcode. This is the only module that holds agent state about processes. It must not do I/O itself: look-ups (live /proc data, container and
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

from rtguard.agent.sensors.dns import parse_message
from rtguard.agent.sensors.records import (
    DnsRecord,
    ExecRecord,
    ExitRecord,
    FileRecord,
    ForkRecord,
    LibraryRecord,
    MountRecord,
    NetRecord,
    ProcOpRecord,
    Record,
    UnixConnectRecord,
)
from rtguard.model.events import (
    Container,
    CredPayload,
    DnsPayload,
    EmptyPayload,
    Event,
    EventKind,
    ExecPayload,
    ExitPayload,
    FilePayload,
    Host,
    LibraryPayload,
    LineageEntry,
    MemfdPayload,
    ModulePayload,
    MountPayload,
    NetPayload,
    Payload,
    Process,
    TargetPayload,
    UnixPayload,
)
from rtguard.model.frozen import frozen

MAX_LINEAGE: Final = 8
DNS_ANSWER_TIMEOUT_NS: Final = 2_000_000_000
MAX_PENDING_DNS: Final = 4096
_NET_KINDS: Final = {
    "connect": (EventKind.NET_CONNECT, "OUTBOUND"),
    "accept": (EventKind.NET_ACCEPT, "INBOUND"),
    "bind": (EventKind.NET_BIND, ""),
    "listen": (EventKind.NET_LISTEN, ""),
    "dup_stdio": (EventKind.STDIO_REDIRECT, ""),
}
_FILE_KINDS: Final = {
    "write": EventKind.FILE_WRITE,
    "rename": EventKind.FILE_RENAME,
    "link": EventKind.FILE_LINK,
    "symlink": EventKind.FILE_SYMLINK,
    "unlink": EventKind.FILE_UNLINK,
    "chmod": EventKind.FILE_CHMOD,
}
_CLK_TCK_NS: Final = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


@frozen
class LiveDetails:
    """What can be read from a live process at enrichment time (empty when it is gone)."""

    exe_path: str = ""
    cwd: str = ""
    ld_preload: str = ""
    ld_library_path: str = ""
    user_name: str = ""
    stdio_sockets: tuple[bool, bool, bool] = (False, False, False)
    stdio_types: tuple[str, str, str] = ("", "", "")


@frozen
class Lookups:
    """Injected look-ups. Each must be total: return an empty value, never raise."""

    live: Callable[[int], LiveDetails | None]
    container: Callable[[str, int], Container | None]
    sha256: Callable[[int, str, ExecRecord], str]
    user_name: Callable[[int], str]
    adopt: Callable[[int], ExecRecord | None] = lambda _pid: None


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


class _Fork:
    """A forked child that has not exec'd: its image is its parent's, built only when needed."""

    __slots__ = ("boot_id", "ns_pid", "pid", "ppid", "source", "start_boottime", "start_time")

    def __init__(
        self,
        source: Process,
        boot_id: str,
        pid: int,
        ppid: int,
        ns_pid: int,
        start_boottime: int,
        start_time: int,
    ) -> None:
        self.source = source
        self.boot_id = boot_id
        self.pid = pid
        self.ppid = ppid
        self.ns_pid = ns_pid
        self.start_boottime = start_boottime
        self.start_time = start_time

    def image(self) -> Process:
        return replace(
            self.source,
            exec_id=make_exec_id(self.boot_id, self.pid, self.start_boottime, 0),
            parent_exec_id=self.source.exec_id,
            pid=self.pid,
            ppid=self.ppid,
            ns_pid=self.ns_pid,
            start_time=self.start_time,
        )


class _Entry:
    """One process in the table. A forked child that has not exec'd keeps only its fork facts
    (most forks exec at once, so building their image would be wasted work); ``process``
    builds the image on first use.
    """

    __slots__ = ("_fork", "_process", "ancestor", "cgroup_path", "container", "lineage", "pidns")

    def __init__(
        self,
        process: Process | None,
        container: Container | None,
        cgroup_path: str,
        pidns: int = 0,
        fork: _Fork | None = None,
    ) -> None:
        self._process = process
        self._fork = fork
        self.container = container
        self.cgroup_path = cgroup_path
        self.pidns = pidns
        # Built once per entry and shared by every event that names it (cheap events, and the
        # exporter reuses their encodings by identity).
        self.ancestor: LineageEntry | None = None
        self.lineage: tuple[LineageEntry, ...] | None = None

    @property
    def process(self) -> Process:
        p = self._process
        if p is None:
            assert self._fork is not None
            p = self._process = self._fork.image()
            self._fork = None
        return p

    @process.setter
    def process(self, value: Process) -> None:
        self._process = value
        self._fork = None

    @property
    def ids(self) -> Process:
        """An image with this process's uid/euid/gid/egid, without building a forked one."""
        return self._process if self._process is not None else self._fork.source  # type: ignore[union-attr]

    @property
    def ppid(self) -> int:
        return self._fork.ppid if self._fork is not None else self.process.ppid

    @property
    def ns_pid(self) -> int:
        return self._fork.ns_pid if self._fork is not None else self.process.ns_pid


@dataclass(slots=True)
class _PendingDns:
    ktime: int
    entry: _Entry
    name: str
    qtype: str
    protocol: str
    server_ip: str


class ProcessTable:
    """Process table and enrichment. Not thread-safe: the sensor thread owns it.

    Args:
        host: the host every event is attributed to.
        lookups: injected look-ups (live /proc data, container resolution, hashing, users).
        max_entries: bound on the table; the oldest entries go first when it is full (counted
            in ``evicted``).
        wall_offset_ns: added to a kernel monotonic time to get wall-clock time; computed
            at construction when not given.
        exit_events: make ``process_exit`` events (the table forgets exited processes either
            way); the agent turns them off unless it exports exits.
    """

    def __init__(
        self,
        host: Host,
        lookups: Lookups = NO_LOOKUPS,
        *,
        max_entries: int = 65_536,
        wall_offset_ns: int | None = None,
        exit_events: bool = True,
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
        self._exit_events = exit_events
        self.evicted = 0
        self.exits_unknown = 0
        self.unattributed = 0
        self.dns_unparsed = 0
        self._dns: OrderedDict[tuple[int, int, str], _PendingDns] = OrderedDict()

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
        """Apply one record; return its first event, or ``None``. Prefer ``events``."""
        out = self.events(rec)
        return out[0] if out else None

    def events(self, rec: Record) -> list[Event]:
        """Apply one record and return the events it makes (often one; none for forks).

        An exec whose effective uid differs from the previous image's also yields a
        ``cred_change`` (syscall ``execve``: a set-uid binary). A DNS query yields nothing until
        its answer arrives or ``DNS_ANSWER_TIMEOUT_NS`` passes (see ``flush_dns``).
        """
        match rec:
            case ExecRecord():
                return self._on_exec(rec)
            case ForkRecord():
                self._on_fork(rec)
                return []
            case ExitRecord():
                gone = self._table.pop(rec.pid, None)
                if gone is None:
                    self.exits_unknown += 1
                    return []
                if not self._exit_events:
                    return []
                return [
                    self._event(EventKind.PROCESS_EXIT, rec.ktime, gone, ExitPayload(exit_code=rec.exit_code))
                ]
            case DnsRecord():
                return self._on_dns(rec)
        entry = self._actor(rec.pid, rec.start_boottime)
        if entry is None:
            self.unattributed += 1
            return []
        kind, payload = self._payload(rec, entry)
        if isinstance(rec, ProcOpRecord) and rec.kind == "cred" and rec.result == 0:
            self._apply_creds(rec.pid, entry, rec)
        return [self._event(kind, rec.ktime, entry, payload)]

    def flush_dns(self, now_ktime: int | None = None) -> list[Event]:
        """Emit queries whose answer did not come within the timeout (all with ``None``)."""
        out: list[Event] = []
        while self._dns:
            key, pend = next(iter(self._dns.items()))
            if now_ktime is not None and now_ktime - pend.ktime < DNS_ANSWER_TIMEOUT_NS:
                break
            del self._dns[key]
            out.append(self._dns_event(pend, (), ""))
        return out

    # ------------------------------------------------------------------ records → payloads

    def _on_exec(self, rec: ExecRecord) -> list[Event]:
        has_all = bool(rec.exe_path and rec.cwd and rec.env_seen and rec.stdio_sockets is not None)
        before = self._table.get(rec.pid)
        entry = self._build(rec, live=None if has_all else self._lookups.live(rec.pid))
        self._put(rec.pid, entry)
        out = [self._event(EventKind.PROCESS_EXEC, rec.ktime, entry, ExecPayload(filename=rec.filename))]
        if before is not None and rec.ktime and before.ids.euid != rec.euid:
            out.append(
                self._event(
                    EventKind.CRED_CHANGE,
                    rec.ktime,
                    entry,
                    CredPayload(
                        syscall="execve",
                        old_uid=before.ids.uid,
                        old_euid=before.ids.euid,
                        new_uid=rec.uid,
                        new_euid=rec.euid,
                        new_gid=rec.gid,
                        new_egid=rec.egid,
                    ),
                )
            )
        return out

    def _actor(self, pid: int, start_boottime: int) -> _Entry | None:
        entry = self._table.get(pid)
        if entry is not None:
            return entry
        rec = self._lookups.adopt(pid)
        if rec is None or (start_boottime and rec.start_boottime // 10**7 != start_boottime // 10**7):
            return None
        entry = self._build(rec, live=None)
        self._put(pid, entry)
        return entry

    def _target(self, actor: _Entry, pid: int) -> Process | None:
        """The process ``pid`` names, as the actor sees pids (its own pid namespace)."""
        if actor.process.ns_pid in (0, actor.process.pid):
            hit = self._table.get(pid)
            return hit.process if hit else None
        for entry in reversed(self._table.values()):
            if entry.pidns == actor.pidns and entry.ns_pid == pid:
                return entry.process
        return None

    def _payload(self, rec: Record, actor: _Entry) -> tuple[EventKind, Payload]:
        match rec:
            case NetRecord():
                kind, direction = _NET_KINDS[rec.kind]
                return kind, NetPayload(
                    family=rec.family,
                    protocol=rec.protocol,
                    local_ip=rec.local_ip,
                    local_port=rec.local_port,
                    remote_ip=rec.remote_ip,
                    remote_port=rec.remote_port,
                    direction=direction,
                    fd=rec.result if kind is EventKind.STDIO_REDIRECT else -1,
                )
            case UnixConnectRecord():
                return EventKind.UNIX_CONNECT, UnixPayload(path=rec.path)
            case FileRecord():
                kind = _FILE_KINDS[rec.kind]
                if rec.kind == "symlink":  # path: the new link; target_path: what it points to
                    return kind, FilePayload(path=rec.path2, target_path=rec.path, flags=rec.flags)
                return kind, FilePayload(
                    path=os.path.normpath(rec.path) if rec.path.startswith("/") else rec.path,
                    target_path=os.path.normpath(rec.path2) if rec.path2.startswith("/") else rec.path2,
                    flags=rec.flags,
                    mode=rec.mode,
                )
            case MountRecord():
                return EventKind.MOUNT, MountPayload(
                    source=rec.source,
                    target=rec.target,
                    fstype=rec.fstype,
                    flags=rec.flags,
                    result=rec.result,
                )
            case ProcOpRecord():
                return self._proc_payload(rec, actor)
            case LibraryRecord():
                return EventKind.LIBRARY_LOAD, LibraryPayload(
                    path=rec.path, written_after_start=True, dev=rec.dev, ino=rec.ino
                )
        return EventKind.PROCESS_EXEC, EmptyPayload()  # unreachable: every record kind is matched

    def _proc_payload(self, rec: ProcOpRecord, actor: _Entry) -> tuple[EventKind, Payload]:
        match rec.kind:
            case "ptrace":
                target = self._target(actor, rec.target_pid) if rec.target_pid else None
                return EventKind.PTRACE, TargetPayload(
                    target_pid=rec.target_pid, request=rec.arg0, target=target
                )
            case "vm_write":
                target = self._target(actor, rec.target_pid)
                return EventKind.PROCESS_VM_WRITE, TargetPayload(target_pid=rec.target_pid, target=target)
            case "memfd":
                return EventKind.MEMFD_CREATE, MemfdPayload(name=rec.text, flags=rec.arg0)
            case "userfaultfd":
                return EventKind.USERFAULTFD, EmptyPayload()
            case "module":
                return EventKind.MODULE_LOAD, ModulePayload(name=rec.text, path=rec.path)
        return EventKind.CRED_CHANGE, CredPayload(
            syscall=rec.syscall,
            old_uid=rec.old_uid,
            old_euid=rec.old_euid,
            new_uid=rec.new_uid,
            new_euid=rec.new_euid,
            new_gid=rec.new_gid,
            new_egid=rec.new_egid,
        )

    def _apply_creds(self, pid: int, entry: _Entry, rec: ProcOpRecord) -> None:
        entry.process = replace(
            entry.process, uid=rec.new_uid, euid=rec.new_euid, gid=rec.new_gid, egid=rec.new_egid
        )
        entry.ancestor = None  # children created from now on see the new ids

    def _on_dns(self, rec: DnsRecord) -> list[Event]:
        msg = parse_message(rec.message, tcp=rec.protocol == "TCP")
        if msg is None:
            if len(rec.message) > 2:
                self.dns_unparsed += 1
            return []
        out = self.flush_dns(rec.ktime) if rec.ktime else []
        key = (rec.pid, msg.txid, msg.name)
        if not msg.is_response:
            if key in self._dns:
                return out
            entry = self._actor(rec.pid, rec.start_boottime) if rec.pid else None
            if entry is None:
                entry = self._anonymous()
            self._dns[key] = _PendingDns(
                ktime=rec.ktime,
                entry=entry,
                name=msg.name,
                qtype=msg.qtype,
                protocol=rec.protocol,
                server_ip=rec.server_ip,
            )
            while len(self._dns) > MAX_PENDING_DNS:
                _k, old = self._dns.popitem(last=False)
                out.append(self._dns_event(old, (), ""))
            return out
        pend = self._dns.pop(key, None)
        if pend is None:  # the query was not seen (agent started in between): report the answer
            entry = (self._actor(rec.pid, rec.start_boottime) if rec.pid else None) or self._anonymous()
            pend = _PendingDns(
                ktime=rec.ktime, entry=entry, name=msg.name, qtype=msg.qtype, protocol=rec.protocol,
                server_ip=rec.server_ip,
            )  # fmt: skip
        out.append(self._dns_event(pend, msg.answers, msg.rcode, rec.ktime))
        return out

    def _dns_event(self, pend: _PendingDns, answers: tuple[str, ...], rcode: str, ktime: int = 0) -> Event:
        payload = DnsPayload(
            name=pend.name,
            qtype=pend.qtype,
            answers=answers,
            rcode=rcode,
            protocol=pend.protocol,
            server_ip=pend.server_ip,
        )
        return self._event(EventKind.DNS_QUERY, pend.ktime or ktime, pend.entry, payload)

    def _anonymous(self) -> _Entry:
        """The actor of traffic no process can be named for (packet capture)."""
        return _Entry(process=Process(exec_id="", pid=0, name=""), container=None, cgroup_path="")

    # ------------------------------------------------------------------ internals

    def _on_fork(self, rec: ForkRecord) -> None:
        parent = self._table.get(rec.parent_pid)
        if parent is None:
            return
        fork = _Fork(
            parent.process,
            self._host.boot_id,
            rec.child_pid,
            rec.parent_pid,
            rec.child_ns_pid,
            rec.child_start_boottime,
            self._boot_offset + rec.child_start_boottime if rec.child_start_boottime else 0,
        )
        self._put(
            rec.child_pid,
            _Entry(None, parent.container, parent.cgroup_path, parent.pidns, fork=fork),
        )

    def _build(self, rec: ExecRecord, live: LiveDetails | None) -> _Entry:
        parent = self._table.get(rec.ppid)
        parent_id = parent.process.exec_id if parent else ""
        if not parent_id and rec.ppid:
            parent_id = make_exec_id(self._host.boot_id, rec.ppid, rec.parent_start_boottime, 0)
        exe_path = rec.exe_path or (live.exe_path if live and live.exe_path else "") or rec.filename
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
            ld_preload=rec.ld_preload if rec.env_seen else (live.ld_preload if live else ""),
            ld_library_path=rec.ld_library_path if rec.env_seen else (live.ld_library_path if live else ""),
            exe_from_memfd=rec.exe_from_memfd or exe_path.startswith("/memfd:"),
            exe_written_after_start=rec.exe_on_upper and container is not None,
            stdio_sockets=(
                rec.stdio_sockets
                if rec.stdio_sockets is not None
                else (live.stdio_sockets if live else (False, False, False))
            ),
            stdio_types=(
                rec.stdio_types
                if rec.stdio_types is not None
                else (live.stdio_types if live else ("", "", ""))
            ),
        )
        return _Entry(process=process, container=container, cgroup_path=rec.cgroup_path, pidns=rec.pidns)

    def _container(self, rec: ExecRecord, parent: _Entry | None) -> Container | None:
        if (
            parent is not None
            and parent.cgroup_path == rec.cgroup_path
            and parent.container is not None
            and parent.container.ecs is not None
        ):
            return parent.container
        # Without ECS data yet (the task list is refreshed at most once a second), ask the
        # look-up again: it serves its cache and retries the ECS resolution when allowed.
        if not rec.cgroup_path:
            return parent.container if parent else None
        return self._lookups.container(rec.cgroup_path, rec.pid)

    def _put(self, pid: int, entry: _Entry) -> None:
        self._table[pid] = entry
        self._table.move_to_end(pid)
        while len(self._table) > self._max:
            self._table.popitem(last=False)
            self.evicted += 1

    @staticmethod
    def _as_ancestor(entry: _Entry) -> LineageEntry:
        if entry.ancestor is None:
            p = entry.process
            entry.ancestor = LineageEntry(
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
        return entry.ancestor

    def _lineage_of(self, entry: _Entry) -> tuple[LineageEntry, ...]:
        """The entry's ancestors, nearest first, computed on its first event and kept.

        The walk stops at the first ancestor whose own lineage is already known and reuses
        it, so an exec storm costs one step per event, not one per ancestor.
        """
        if entry.lineage is not None:
            return entry.lineage
        out: list[LineageEntry] = []
        seen = {entry.process.pid}
        pid = entry.ppid
        while pid and pid not in seen and len(out) < MAX_LINEAGE:
            seen.add(pid)
            parent = self._table.get(pid)
            if parent is None:
                break
            out.append(self._as_ancestor(parent))
            if parent.lineage is not None:
                rest = parent.lineage[: MAX_LINEAGE - len(out)]
                for i, up in enumerate(rest):  # a pid seen again (reuse) ends the chain
                    if up.pid in seen:
                        rest = rest[:i]
                        break
                out.extend(rest)
                break
            pid = parent.ppid
        entry.lineage = tuple(out)
        return entry.lineage

    def _event(self, kind: EventKind, ktime: int, entry: _Entry, payload: Payload) -> Event:
        wall = self._mono_offset + ktime if ktime else time.time_ns()
        return Event(
            kind=kind,
            time=wall,
            ktime=ktime,
            host=self._host,
            process=entry.process,
            lineage=self._lineage_of(entry),
            container=entry.container,
            payload=payload,
        )
