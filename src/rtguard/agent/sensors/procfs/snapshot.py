"""Reading ``/proc``: the start-up process snapshot and live look-ups of a running process.

``snapshot`` lists every running thread-group leader as an ``ExecRecord`` (``from_snapshot``
set) so that the process table knows processes that started before the agent; ``read_live``
reads what only a living process can tell (cwd, loader variables, stdio, user name) right
after its exec. Both are I/O shells around the pure parsers in ``parse``. They must never
raise: processes vanish mid-read, pids get reused, and some files give EACCES (pid 1 on our
machines); what cannot be read is left empty and counted. They must not keep any state between
calls except in a ``PasswdCache`` the caller owns, and must never read an environment variable
other than ``LD_PRELOAD`` and ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from rtguard.agent.sensors.procfs.parse import (
    ProcParseError,
    ProcStat,
    ProcStatus,
    cgroup_path,
    decode_text,
    parse_cgroup,
    parse_cmdline,
    parse_environ,
    parse_mountinfo,
    parse_ns_link,
    parse_passwd,
    parse_stat,
    parse_status,
    start_boottime_ns,
)
from rtguard.agent.sensors.records import ExecRecord, stdio_type_of_link
from rtguard.model.events import stdio_sockets_of

__all__ = [
    "LiveInfo",
    "PasswdCache",
    "SnapshotStats",
    "read_live",
    "read_process",
    "snapshot",
]

_SMALL_LIMIT: Final = 64 * 1024
_ENVIRON_LIMIT: Final = 8 * 1024 * 1024  # argv+env can reach 6 MiB with an unlimited stack
_PASSWD_LIMIT: Final = 4 * 1024 * 1024
_DELETED_SUFFIX: Final = " (deleted)"
# ESRCH means the task is gone. ENOENT is ambiguous (a zombie or a kernel thread has no exe,
# a fake tree may lack a file): it is counted, and the final re-read of ``stat`` decides.
_VANISHED_ERRNOS: Final = frozenset({errno.ESRCH})


class _VanishedError(Exception):
    """The process exited (or its pid was reused) while we were reading it."""


@dataclass(slots=True)
class SnapshotStats:
    """Counters of one snapshot: pids seen, records made, and what was skipped, by reason."""

    seen: int = 0
    records: int = 0
    vanished: int = 0
    kernel_threads: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, reason: str) -> None:
        """Count one unreadable item under ``reason`` (e.g. ``exe:EACCES``)."""
        self.errors[reason] = self.errors.get(reason, 0) + 1


def read_bytes(path: str, limit: int = _SMALL_LIMIT) -> bytes:
    """Read up to ``limit`` bytes (raises ``OSError``). ``/proc`` files report size 0, so read until EOF."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        chunks: list[bytes] = []
        total = 0
        while total < limit:
            chunk = os.read(fd, min(65536, limit - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "EIO")


class _Reader:
    """Reads the files of one pid; turns 'gone' into ``_VanishedError``, counts other errors."""

    def __init__(self, proc_root: str, pid: int, stats: SnapshotStats | None) -> None:
        self.base = f"{proc_root}/{pid}"
        self.stats = stats

    def _fail(self, what: str, exc: OSError) -> None:
        if exc.errno in _VANISHED_ERRNOS:
            raise _VanishedError from exc
        if self.stats is not None:
            self.stats.error(f"{what}:{_reason(exc)}")

    def read(self, name: str, limit: int = _SMALL_LIMIT) -> bytes | None:
        try:
            return read_bytes(f"{self.base}/{name}", limit)
        except OSError as exc:
            self._fail(name, exc)
            return None

    def readlink(self, name: str) -> str | None:
        try:
            return decode_text(os.readlink(os.fsencode(f"{self.base}/{name}")))
        except OSError as exc:
            self._fail(name, exc)
            return None

    def stat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(f"{self.base}/{name}")
        except OSError as exc:
            self._fail(name, exc)
            return None

    def ns_inode(self, name: str) -> int:
        target = self.readlink(f"ns/{name}")
        if target is None:
            return 0
        try:
            return parse_ns_link(target)
        except ProcParseError:
            return 0


def _pids(proc_root: str) -> list[int]:
    try:
        names = os.listdir(proc_root)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit())


def _read_stat(proc_root: str, pid: int) -> ProcStat | None:
    try:
        return parse_stat(read_bytes(f"{proc_root}/{pid}/stat"))
    except (OSError, ProcParseError):
        return None


def _clk_tck() -> int:
    try:
        value = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 100
    return value if value > 0 else 100


def _cgroup2_mount(proc_root: str) -> str:
    try:
        data = read_bytes(f"{proc_root}/self/mountinfo", 1024 * 1024)
    except OSError:
        return ""
    for mount in parse_mountinfo(data):
        if mount.fstype == "cgroup2":
            return mount.mount_point
    return ""


def _strip_deleted(path: str, st: os.stat_result | None) -> str:
    if st is not None and st.st_nlink == 0 and path.endswith(_DELETED_SUFFIX):
        return path[: -len(_DELETED_SUFFIX)]
    return path


class _CgroupIds:
    """cgroup v2 path → inode number (what ``bpf_get_current_cgroup_id`` returns)."""

    def __init__(self, mount: str) -> None:
        self._mount = mount
        self._ids: dict[str, int] = {}

    def get(self, cgroups: dict[str, str]) -> int:
        path = cgroups.get("")
        if not self._mount or path is None:
            return 0
        if path not in self._ids:
            try:
                self._ids[path] = os.stat(self._mount + path.rstrip("/")).st_ino
            except OSError:
                self._ids[path] = 0
        return self._ids[path]


@dataclass(slots=True, kw_only=True)
class _Scan:
    """What one snapshot shares across pids."""

    proc_root: str
    starts: dict[int, int]
    clk_tck: int
    cgroup_ids: _CgroupIds
    stats: SnapshotStats


def _record(scan: _Scan, pid: int, first: ProcStat) -> ExecRecord:
    proc_root, starts, clk_tck, cgroup_ids = scan.proc_root, scan.starts, scan.clk_tck, scan.cgroup_ids
    reader = _Reader(proc_root, pid, scan.stats)
    status_data = reader.read("status")
    if status_data is None:
        raise _VanishedError
    status = parse_status(status_data)
    cgroups = parse_cgroup(reader.read("cgroup") or b"")
    argv, truncated = parse_cmdline(reader.read("cmdline", _SMALL_LIMIT + 1) or b"")
    exe = reader.readlink("exe") or ""
    exe_st = reader.stat("exe") if exe else None
    cwd = reader.readlink("cwd") or ""
    mntns = reader.ns_inode("mnt")
    pidns = reader.ns_inode("pid")
    again = _read_stat(proc_root, pid)
    if again is None or again.starttime != first.starttime:
        raise _VanishedError
    parent_ticks = starts.get(first.ppid)
    if parent_ticks is None and first.ppid > 0:
        parent = _read_stat(proc_root, first.ppid)
        parent_ticks = parent.starttime if parent is not None else None
    return ExecRecord(
        pid=pid,
        tid=pid,
        ppid=first.ppid,
        ns_pid=status.ns_pid,
        uid=status.uid,
        euid=status.euid,
        gid=status.gid,
        egid=status.egid,
        start_boottime=start_boottime_ns(first.starttime, clk_tck),
        parent_start_boottime=(start_boottime_ns(parent_ticks, clk_tck) if parent_ticks is not None else 0),
        comm=first.comm,
        filename=_strip_deleted(exe, exe_st),
        argv=argv,
        argv_truncated=truncated,
        cgroup_id=cgroup_ids.get(cgroups),
        cgroup_path=cgroup_path(cgroups),
        mntns=mntns,
        pidns=pidns,
        exe_dev=exe_st.st_dev if exe_st is not None else 0,
        exe_ino=exe_st.st_ino if exe_st is not None else 0,
        exe_mtime=exe_st.st_mtime_ns if exe_st is not None else 0,
        cwd=cwd,
        from_snapshot=True,
    )


def snapshot(
    proc_root: str = "/proc",
    *,
    include_kernel_threads: bool = False,
    stats: SnapshotStats | None = None,
    cgroup2_mount: str | None = None,
) -> list[ExecRecord]:
    """Return one ``ExecRecord`` (``from_snapshot=True``, ``ktime=0``) per running process.

    Only thread-group leaders are listed (``/proc`` lists tgids). ``start_boottime`` comes from
    ``stat`` ``starttime`` (ticks × 1e9 / CLK_TCK), ``parent_start_boottime`` from the parent's
    ``stat``; ``exe_dev`` is the user-space ``st_dev`` of ``/proc/<pid>/exe`` (``os.stat``
    encoding, not the kernel's ``MKDEV``). Processes that exit during the scan, or whose pid is
    reused, are left out; files that give EACCES are left empty. Never raises.

    Args:
        proc_root: where procfs is mounted (a directory tree with the same layout in tests).
        include_kernel_threads: also list kernel threads (no exe, no cmdline).
        stats: filled with counts of what was seen, skipped and unreadable, when given.
        cgroup2_mount: the cgroup2 mount point for ``cgroup_id``; found from
            ``<proc_root>/self/mountinfo`` when ``None``; ``""`` to leave ``cgroup_id`` 0.

    Returns:
        The records, in ascending pid order; an empty list when ``proc_root`` cannot be read.
    """
    clk_tck = _clk_tck()
    stats_ = stats if stats is not None else SnapshotStats()
    cgroup_ids = _CgroupIds(_cgroup2_mount(proc_root) if cgroup2_mount is None else cgroup2_mount)
    firsts: dict[int, ProcStat] = {}
    for pid in _pids(proc_root):
        stats_.seen += 1
        st = _read_stat(proc_root, pid)
        if st is None:
            stats_.vanished += 1
            continue
        firsts[pid] = st
    scan = _Scan(
        proc_root=proc_root,
        starts={pid: st.starttime for pid, st in firsts.items()},
        clk_tck=clk_tck,
        cgroup_ids=cgroup_ids,
        stats=stats_,
    )
    records: list[ExecRecord] = []
    for pid, first in firsts.items():
        if first.is_kernel_thread and not include_kernel_threads:
            stats_.kernel_threads += 1
            continue
        try:
            records.append(_record(scan, pid, first))
        except _VanishedError:
            stats_.vanished += 1
        except ProcParseError:
            stats_.error("parse")
        except Exception:  # the start-up scan must survive any one odd process
            stats_.error("unexpected")
    stats_.records += len(records)
    return records


def read_process(pid: int, proc_root: str = "/proc") -> ExecRecord | None:
    """One process's ``ExecRecord`` (``from_snapshot=True``) read from ``/proc``, or ``None``.

    For a process the agent learns about late (its exec came before the agent started, or a
    fallback sensor reports only its pid). Never raises.
    """
    first = _read_stat(proc_root, pid)
    if first is None:
        return None
    stats = SnapshotStats()
    scan = _Scan(
        proc_root=proc_root,
        starts={pid: first.starttime},
        clk_tck=_clk_tck(),
        cgroup_ids=_CgroupIds(""),
        stats=stats,
    )
    try:
        return _record(scan, pid, first)
    except Exception:  # vanished, unreadable or odd: the caller goes on without it
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveInfo:
    """What a running process shows about itself right now (empty strings when unreadable).

    ``exe_path`` is the link target of ``/proc/<pid>/exe`` as the process sees it (inside a
    container: the container's path), without the kernel's `` (deleted)`` suffix when the file
    is really gone (``exe_deleted``). ``user_name`` is the name of the real ``uid``.
    """

    pid: int
    exe_path: str = ""
    exe_deleted: bool = False
    exe_from_memfd: bool = False
    cwd: str = ""
    ld_preload: str = ""
    ld_library_path: str = ""
    uid: int = -1
    user_name: str = ""
    stdio_sockets: tuple[bool, bool, bool] = (False, False, False)
    stdio_types: tuple[str, str, str] = ("", "", "")


class PasswdCache:
    """uid → name tables of passwd files, keyed by the file's identity; bounded LRU.

    The key is (device, inode, mtime, size), so an edited file is re-read. Not thread-safe:
    give each thread its own.
    """

    def __init__(self, max_files: int = 64) -> None:
        self._max = max(1, max_files)
        self._tables: OrderedDict[tuple[int, int, int, int], dict[int, str]] = OrderedDict()

    def table(self, fd: int) -> dict[int, str] | None:
        """The uid → name table of the open regular file ``fd`` (None when it is not one)."""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > _PASSWD_LIMIT:
                return None
            key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._tables.get(key)
            if cached is not None:
                self._tables.move_to_end(key)
                return cached
            chunks: list[bytes] = []
            total = 0
            while total <= _PASSWD_LIMIT:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        except OSError:
            return None
        table = parse_passwd(b"".join(chunks))
        self._tables[key] = table
        while len(self._tables) > self._max:
            self._tables.popitem(last=False)
        return table


def _open_passwd_in_root(root: str) -> int:
    """Open ``<root>/etc/passwd`` without following symlinks out of the process's root.

    ``/proc/<pid>/root`` resolves absolute symlinks against *our* root, and a hostile
    container could point ``/etc/passwd`` at a FIFO or a device: walk component by component
    with ``O_NOFOLLOW`` and never block on open.
    """
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        etc_fd = os.open("etc", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root_fd)
    finally:
        os.close(root_fd)
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
        return os.open("passwd", flags, dir_fd=etc_fd)
    finally:
        os.close(etc_fd)


def _user_name(uid: int, roots: tuple[str, ...], cache: PasswdCache) -> str:
    for root in roots:
        try:
            fd = _open_passwd_in_root(root)
        except OSError:
            continue
        try:
            table = cache.table(fd)
        finally:
            os.close(fd)
        if table is not None:
            return table.get(uid, "")
    return ""


def _fd_type(proc_root: str, pid: int, fd: int) -> str:
    try:
        return stdio_type_of_link(os.readlink(f"{proc_root}/{pid}/fd/{fd}"))
    except OSError:
        return ""


def read_live(
    pid: int,
    proc_root: str = "/proc",
    *,
    passwd: PasswdCache | None = None,
    host_root: str = "/",
) -> LiveInfo | None:
    """Read what only a living process can tell: exe, cwd, loader variables, stdio, user name.

    Meant to run right after an exec, while the process still lives. The user name comes from
    the process's own ``/proc/<pid>/root/etc/passwd`` when readable (the container's users),
    else from ``<host_root>/etc/passwd``. Never raises.

    Args:
        pid: host pid of the process.
        proc_root: where procfs is mounted.
        passwd: a cache of parsed passwd files; pass one to avoid re-reading them per call.
        host_root: the root whose ``etc/passwd`` is the fallback.

    Returns:
        The details, with empty fields for what could not be read; ``None`` when the process
        is gone (its ``status`` cannot be read).
    """
    cache = passwd if passwd is not None else PasswdCache(max_files=2)
    base = f"{proc_root}/{pid}"
    try:
        status: ProcStatus | None = parse_status(read_bytes(f"{base}/status"))
    except OSError:
        return None
    except ProcParseError:
        status = None
    try:
        reader = _Reader(proc_root, pid, None)
        exe = reader.readlink("exe") or ""
        exe_st = reader.stat("exe") if exe else None
        cwd = reader.readlink("cwd") or ""
        env = parse_environ(reader.read("environ", _ENVIRON_LIMIT) or b"")
    except _VanishedError:
        return None
    deleted = exe_st is not None and exe_st.st_nlink == 0
    uid = status.uid if status is not None else -1
    user = _user_name(uid, (f"{base}/root", host_root), cache) if uid >= 0 else ""
    stdio = (_fd_type(proc_root, pid, 0), _fd_type(proc_root, pid, 1), _fd_type(proc_root, pid, 2))
    return LiveInfo(
        pid=pid,
        exe_path=_strip_deleted(exe, exe_st),
        exe_deleted=deleted,
        exe_from_memfd=exe.startswith("/memfd:") and deleted,
        cwd=cwd,
        ld_preload=env.get("LD_PRELOAD", ""),
        ld_library_path=env.get("LD_LIBRARY_PATH", ""),
        uid=uid,
        user_name=user,
        stdio_sockets=stdio_sockets_of(stdio),
        stdio_types=stdio,
    )
