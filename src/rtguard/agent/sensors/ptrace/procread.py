"""Fast reads of one process's ``/proc`` files while the tracer holds it stopped.

``ExecReader.read`` turns a process sitting in its exec stop into a complete ``ExecRecord``
(exe path, device, inode, ctime and sha256, argv, cwd, ids, loader variables, which of fd
0/1/2 are sockets, cgroup, namespaces): the process cannot run, exit or exec again while we
read, so even an instant process is complete. ``start_boottime`` reads the ``stat`` start time
of a new child. The digest is cached by file identity, so an exec storm of one binary hashes it
once. Reads use raw ``os`` calls (this is the hot path). Everything here is total: an
unreadable file leaves its field empty and is counted; nothing raises. It must NOT read any
environment variable other than ``LD_PRELOAD`` and ``LD_LIBRARY_PATH``, must NOT keep state
about processes, and must NOT issue ptrace requests.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping
from typing import Final

from rtguard.agent.sensors.procfs.parse import (
    ProcParseError,
    ProcStatus,
    cgroup_path,
    decode_text,
    parse_cgroup,
    parse_cmdline,
    parse_environ,
    parse_stat,
    parse_status,
    start_boottime_ns,
)
from rtguard.agent.sensors.procfs.snapshot import read_bytes
from rtguard.agent.sensors.records import ExecRecord, stdio_type_of_link
from rtguard.model.events import stdio_sockets_of

__all__ = ["ExecReader", "fast_cgroup_path", "fast_loader_env", "fast_status", "read_file"]

_SMALL: Final = 64 * 1024
_ENVIRON: Final = 8 * 1024 * 1024
_DELETED: Final = " (deleted)"
_MAX_HASH_BYTES: Final = 64 * 1024 * 1024
_CLK_TCK: Final = os.sysconf("SC_CLK_TCK") or 100


def read_file(path: str, limit: int = _SMALL) -> bytes | None:
    """Up to ``limit`` bytes of ``path``; ``None`` when it cannot be opened or read."""
    try:
        return read_bytes(path, limit)
    except OSError:
        return None


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _ns_inode(path: str) -> int:
    try:
        return os.stat(path).st_ino
    except OSError:
        return 0


def _field(data: bytes, key: bytes) -> bytes | None:
    at = data.find(b"\n" + key)
    if at < 0:
        return None
    start = at + 1 + len(key)
    end = data.find(b"\n", start)
    return data[start : end if end >= 0 else len(data)]


def fast_status(data: bytes) -> ProcStatus:
    """The ``status`` fields the sidecar needs, found directly (hot path); falls back to the
    full parser when a line is missing or odd.

    Raises:
        ProcParseError: when even the full parser cannot read it.
    """
    try:
        uid = _field(data, b"Uid:")
        gid = _field(data, b"Gid:")
        ppid = _field(data, b"PPid:")
        pid = _field(data, b"Pid:")
        tgid = _field(data, b"Tgid:")
        if uid is None or gid is None or ppid is None or pid is None or tgid is None:
            return parse_status(data)
        uids = [int(x) for x in uid.split()]
        gids = [int(x) for x in gid.split()]
        nspid = _field(data, b"NSpid:")
        ns_pids = tuple(int(x) for x in nspid.split()) if nspid else ()
        name_end = data.find(b"\n")
        name = data[5:name_end].strip() if data.startswith(b"Name:") else b""
        if b"\\" in name:
            return parse_status(data)
        return ProcStatus(
            name=decode_text(name),
            tgid=int(tgid),
            pid=int(pid),
            ppid=int(ppid),
            uid=uids[0],
            euid=uids[1],
            suid=uids[2],
            fsuid=uids[3],
            gid=gids[0],
            egid=gids[1],
            ns_pids=ns_pids or (int(pid),),
        )
    except (ValueError, IndexError):
        return parse_status(data)


def fast_loader_env(data: bytes) -> dict[str, str]:
    """``LD_PRELOAD``/``LD_LIBRARY_PATH`` from ``environ``; the common case (no ``LD_``) is one scan."""
    if b"LD_" not in data:
        return {}
    return parse_environ(data)


def fast_cgroup_path(data: bytes) -> str:
    """``cgroup_path`` of a ``cgroup`` file: the v1 memory line, else the v2 line."""
    at = data.find(b":memory:")
    if at >= 0:
        end = data.find(b"\n", at)
        return decode_text(data[at + 8 : end if end >= 0 else len(data)])
    return cgroup_path(parse_cgroup(data))


class ExecReader:
    """Reads exec records under ``proc_root``. Owned by the tracer thread; not thread-safe.

    Args:
        proc_root: where the task's pid namespace's procfs is mounted.
        hash_cache: digests to keep (LRU by device, inode, mtime, ctime and size).
    """

    def __init__(self, proc_root: str = "/proc", hash_cache: int = 1024) -> None:
        self._proc = proc_root
        self._hashes: OrderedDict[tuple[int, int, int, int, int], str] = OrderedDict()
        self._max_hashes = hash_cache
        self._boot_to_wall = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        self.unreadable: Counter[str] = Counter()
        self.hashed = 0

    def start_boottime(self, pid: int) -> int:
        """The process's start in CLOCK_BOOTTIME ns from ``stat``; 0 when it cannot be read."""
        data = read_file(f"{self._proc}/{pid}/stat")
        if data is None:
            return 0
        try:
            return start_boottime_ns(parse_stat(data).starttime, _CLK_TCK)
        except ProcParseError:
            return 0

    def boot_to_wall(self, boottime_ns: int) -> int:
        """CLOCK_BOOTTIME ns to wall-clock ns."""
        return self._boot_to_wall + boottime_ns

    def sha256(self, pid: int, st: os.stat_result | None) -> str:
        """The digest of the image ``pid`` runs (through ``/proc/<pid>/exe``), cached by identity."""
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_HASH_BYTES:
            return ""
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        hit = self._hashes.get(key)
        if hit is not None:
            self._hashes.move_to_end(key)
            return hit
        data = read_file(f"{self._proc}/{pid}/exe", _MAX_HASH_BYTES + 1)
        if data is None or len(data) != st.st_size:
            self.unreadable["exe_hash"] += 1
            return ""
        digest = hashlib.sha256(data).hexdigest()
        self.hashed += 1
        self._hashes[key] = digest
        while len(self._hashes) > self._max_hashes:
            self._hashes.popitem(last=False)
        return digest

    def read(
        self,
        pid: int,
        *,
        tid: int,
        ktime: int,
        start_boottime: int,
        parent_starts: Mapping[int, int] | None = None,
        container_starts: Mapping[str, int] | None = None,
        late: bool = False,
    ) -> ExecRecord | None:
        """The ``ExecRecord`` of ``pid`` (with ``exe_sha256``); ``None`` when the process is gone.

        ``parent_starts``: known start times by pid (for ``parent_start_boottime``);
        ``container_starts``: when each cgroup's first process started (wall ns); an
        executable whose inode changed after that is flagged ``exe_on_upper`` (written after
        the container started).
        ``late``: the process was found running, not caught at its exec (``from_snapshot``).
        """
        base = f"{self._proc}/{pid}/"
        status_data = read_file(base + "status")
        if status_data is None:
            return None
        try:
            status = fast_status(status_data)
        except ProcParseError:
            self.unreadable["status"] += 1
            return None
        cmdline = read_file(base + "cmdline", _SMALL + 1)
        argv, truncated = parse_cmdline(cmdline or b"", max_bytes=_SMALL)
        exe = _readlink(base + "exe")
        try:
            exe_st: os.stat_result | None = os.stat(base + "exe")
        except OSError:
            exe_st = None
        if exe.endswith(_DELETED) and exe_st is not None and exe_st.st_nlink == 0:
            exe = exe[: -len(_DELETED)]
        environ = read_file(base + "environ", _ENVIRON)
        env = fast_loader_env(environ) if environ is not None else {}
        if environ is None:
            self.unreadable["environ"] += 1
        stdio = (
            stdio_type_of_link(_readlink(f"{base}fd/0")),
            stdio_type_of_link(_readlink(f"{base}fd/1")),
            stdio_type_of_link(_readlink(f"{base}fd/2")),
        )
        cgroup_data = read_file(base + "cgroup")
        cgroup = fast_cgroup_path(cgroup_data) if cgroup_data else ""
        if start_boottime == 0:
            start_boottime = self.start_boottime(pid)
        container_start = container_starts.get(cgroup, 0) if container_starts else 0
        written_after = bool(container_start and exe_st is not None and exe_st.st_ctime_ns > container_start)
        return ExecRecord(
            ktime=ktime,
            pid=pid,
            tid=tid,
            ppid=status.ppid,
            ns_pid=status.ns_pid,
            uid=status.uid,
            euid=status.euid,
            gid=status.gid,
            egid=status.egid,
            start_boottime=start_boottime,
            parent_start_boottime=parent_starts.get(status.ppid, 0) if parent_starts else 0,
            comm=status.name,
            filename=exe,
            argv=argv,
            argv_truncated=truncated,
            cgroup_path=cgroup,
            mntns=_ns_inode(base + "ns/mnt"),
            pidns=_ns_inode(base + "ns/pid"),
            exe_dev=exe_st.st_dev if exe_st is not None else 0,
            exe_ino=exe_st.st_ino if exe_st is not None else 0,
            exe_mtime=exe_st.st_mtime_ns if exe_st is not None else 0,
            cwd=_readlink(base + "cwd"),
            from_snapshot=late,
            exe_path=exe,
            env_seen=environ is not None,
            ld_preload=env.get("LD_PRELOAD", ""),
            ld_library_path=env.get("LD_LIBRARY_PATH", ""),
            stdio_sockets=stdio_sockets_of(stdio),
            stdio_types=stdio,
            exe_from_memfd=exe.startswith("/memfd:"),
            exe_on_upper=written_after,
            exe_sha256=self.sha256(pid, exe_st),
        )
