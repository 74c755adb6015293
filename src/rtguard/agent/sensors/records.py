"""Raw sensor records: what a sensor hands to enrichment, before any look-up.

Every sensor (eBPF, procfs snapshot, proc connector, packet capture, ptrace sidecar) produces
these records;
``rtguard.agent.enrich`` turns them into model ``Event`` objects. Pure data, no I/O. Times:
``ktime`` is CLOCK_MONOTONIC nanoseconds (``bpf_ktime_get_ns``; 0 when unknown);
``start_boottime`` is the task's start in CLOCK_BOOTTIME nanoseconds, the clock behind the
``starttime`` field of ``/proc/<pid>/stat``, so that both sources give one stable process id.
"""

from __future__ import annotations

from typing import Protocol

from rtguard.model.frozen import frozen


def stdio_type_of_link(target: str) -> str:
    """The ``rtguard.model.events.STDIO_TYPES`` name of a ``/proc/<pid>/fd/N`` link target (``""`` if unreadable).

    /proc does not name a socket's family (``socket:[inode]``): such a socket is ``"socket"``.
    """
    if not target:
        return ""
    if target.startswith("socket:"):
        return "socket"
    if target.startswith("pipe:"):
        return "pipe"
    if target.startswith(("/dev/pts/", "/dev/tty", "/dev/console")) or target == "/dev/ptmx":
        return "tty"
    if target.startswith("/dev/"):
        return "char"
    if target.startswith("/"):
        return "file"
    return "other"


@frozen
class ExecRecord:
    """A process image: from a real exec (``ktime`` > 0) or from the start-up snapshot."""

    ktime: int = 0
    pid: int
    tid: int = 0
    ppid: int = 0
    ns_pid: int = 0
    uid: int = 0
    euid: int = 0
    gid: int = 0
    egid: int = 0
    start_boottime: int = 0
    parent_start_boottime: int = 0
    comm: str = ""
    filename: str = ""
    argv: tuple[str, ...] = ()
    argv_truncated: bool = False
    cgroup_id: int = 0
    cgroup_path: str = ""
    mntns: int = 0
    pidns: int = 0
    exe_dev: int = 0
    exe_ino: int = 0
    exe_mtime: int = 0
    cwd: str = ""
    from_snapshot: bool = False
    exe_path: str = ""
    env_seen: bool = False
    ld_preload: str = ""
    ld_library_path: str = ""
    stdio_sockets: tuple[bool, bool, bool] | None = None
    # what fds 0..2 are (model.events.STDIO_TYPES); None when the sensor could not tell
    stdio_types: tuple[str, str, str] | None = None
    exe_from_memfd: bool = False
    exe_on_upper: bool = False
    exe_sha256: str = ""  # set by sensors that hash the image while the process is held (ptrace)


@frozen
class ForkRecord:
    """A new process (thread-group leader only): ``child_pid`` forked from ``parent_pid``."""

    ktime: int = 0
    parent_pid: int
    child_pid: int
    child_start_boottime: int = 0
    parent_start_boottime: int = 0
    child_ns_pid: int = 0


@frozen
class ExitRecord:
    """A process (thread-group leader) exited with the raw wait status ``exit_code``."""

    ktime: int = 0
    pid: int
    start_boottime: int = 0
    exit_code: int = 0


@frozen
class NetRecord:
    """A connect (after it returned), accept, bind or listen on an IPv4/IPv6 socket, or such a
    socket duplicated onto stdin, stdout or stderr.

    ``kind`` is ``connect``, ``accept``, ``bind``, ``listen`` or ``dup_stdio`` (``result``: the
    fd, 0 to 2); ports in host order; addresses as text (``""`` when unknown).
    """

    ktime: int = 0
    pid: int
    tid: int = 0
    start_boottime: int = 0
    kind: str
    result: int = 0
    family: int = 2
    protocol: int = 0
    sock_type: int = 0
    local_ip: str = ""
    local_port: int = 0
    remote_ip: str = ""
    remote_port: int = 0


@frozen
class UnixConnectRecord:
    """A connect on a unix socket; abstract names are shown as ``@name``."""

    ktime: int = 0
    pid: int
    tid: int = 0
    start_boottime: int = 0
    path: str
    result: int = 0
    sock_type: int = 0


@frozen
class DnsRecord:
    """One DNS message sent to (``outgoing``) or received from a server on port 53.

    ``message`` is the raw DNS message (a TCP length prefix, when present, is kept; the parser
    strips it). ``pid`` is 0 when the source cannot attribute it (packet capture).
    """

    ktime: int = 0
    pid: int = 0
    tid: int = 0
    start_boottime: int = 0
    outgoing: bool
    protocol: str = "UDP"
    server_ip: str = ""
    server_port: int = 53
    local_port: int = 0
    message: bytes = b""
    truncated: bool = False


@frozen
class FileRecord:
    """A file change: ``kind`` is write, rename, link, symlink, unlink or chmod.

    ``path`` is as the process sees it (from its root); ``path2`` is the new name of a rename
    or link, or the link itself for a symlink (whose ``path`` is the target as given).
    """

    ktime: int = 0
    pid: int
    tid: int = 0
    start_boottime: int = 0
    kind: str
    path: str
    path2: str = ""
    flags: int = 0
    mode: int = 0
    result: int = 0
    truncated: bool = False


@frozen
class ProcOpRecord:
    """ptrace, process_vm_writev, memfd_create, userfaultfd, module load or a credential change.

    ``kind`` is ``ptrace``, ``vm_write``, ``memfd``, ``userfaultfd``, ``module`` or ``cred``;
    ``arg0``/``arg1`` carry the request/flags (see ``bpf/rtguard.h``); ``text`` the memfd name or
    module parameters; ``syscall`` the credential syscall's name; ``path`` a module's file.
    """

    ktime: int = 0
    pid: int
    tid: int = 0
    start_boottime: int = 0
    kind: str
    result: int = 0
    arg0: int = 0
    arg1: int = 0
    target_pid: int = 0
    text: str = ""
    syscall: str = ""
    old_uid: int = 0
    old_euid: int = 0
    new_uid: int = 0
    new_euid: int = 0
    new_gid: int = 0
    new_egid: int = 0
    path: str = ""  # module: the file finit_module was given (from its fd)


@frozen
class MountRecord:
    """A mount attempt, failing ones too (``result`` < 0).

    ``syscall`` is ``mount``, or a step of the new mount API: ``fsopen`` (fstype), ``fsconfig``
    (a failed "source"), ``fsmount`` and ``move_mount`` (source and fstype of the context the fd
    came from; move_mount also the target), ``open_tree`` (a cloned tree: source), ``fspick``
    (an existing superblock picked for reconfiguration: its path and fstype) or
    ``mount_setattr`` (target: the mount; ``flags`` = attr_set | attr_clr << 32).
    """

    ktime: int = 0
    pid: int
    tid: int = 0
    start_boottime: int = 0
    source: str = ""
    target: str = ""
    fstype: str = ""
    flags: int = 0
    result: int = 0
    syscall: str = "mount"


@frozen
class LibraryRecord:
    """A file written in the container after it started (overlay upper layer) mapped executable.

    The kernel sends it once per container (cgroup) and file version; ``dev`` is in the
    ``st_dev`` encoding of stat(), ``path`` as the process sees it (from its root).
    """

    ktime: int = 0
    pid: int
    tid: int = 0
    start_boottime: int = 0
    path: str
    cgroup_id: int = 0
    dev: int = 0
    ino: int = 0
    mtime: int = 0
    prot: int = 0
    mmap_flags: int = 0
    truncated: bool = False


Record = (
    ExecRecord
    | ForkRecord
    | ExitRecord
    | NetRecord
    | UnixConnectRecord
    | DnsRecord
    | FileRecord
    | ProcOpRecord
    | MountRecord
    | LibraryRecord
)


@frozen
class SensorStats:
    """Counters a sensor reports: records delivered, records lost by reason, and events the sensor
    folded into an earlier one on purpose (``coalesced``: repeated write-opens of a file by the same
    process within a second; not a loss, but shown so that nobody mistakes it for silence)."""

    records: int = 0
    lost: dict[str, int] | None = None
    coalesced: int = 0
    # eBPF ring diagnostics, not losses: refusals that the one retry delivered, and consumer
    # wakeups the kernel forced because the ring was filling up (at most one per CPU per ms).
    ring_retried: int = 0
    ring_wakeups: int = 0


class Sensor(Protocol):
    """A source of raw records.

    ``start`` opens and attaches (raising ``SensorUnavailable`` with a reason a user can act
    on); ``poll`` drains whatever is ready, waiting up to ``timeout_ms``, and returns an empty
    list when nothing came; ``blind_spots`` lists, in words a user understands, the event
    classes this sensor cannot see here; ``close`` detaches and always succeeds. Not thread-safe: one
    thread polls.
    """

    name: str

    def start(self) -> None: ...

    def poll(self, timeout_ms: int) -> list[Record]: ...

    def stats(self) -> SensorStats: ...

    def blind_spots(self) -> list[str]: ...

    def close(self) -> None: ...


class SensorUnavailable(RuntimeError):
    """The sensor cannot run here; the message says why and what to do."""
