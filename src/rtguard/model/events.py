"""Runtime events: what the agent records and the server detects on.

Pure data, stdlib only: frozen dataclasses for the acting process, its container and ECS task,
the host, and one typed payload per event kind. This module must not do I/O, must not import
anything of rtguard outside ``rtguard.model``, and must not know any wire format (that is
``rtguard.model.codec``). Every string here may come from a monitored process and is
attacker-controlled: whoever shows it escapes it.
"""

from __future__ import annotations

from dataclasses import field
from enum import StrEnum
from typing import Final

from rtguard.model.frozen import frozen

# What a standard fd can be at exec (``Process.stdio_types``): "" (closed or unknown), a regular
# "file", a "tty", another "char" device (/dev/null), a "pipe", an "inet" (TCP/UDP, v4 or v6) or
# "unix" socket, a "socket" of another or unknown family, or "other". The order is the sensor
# ABI's ``enum rtg_stdio_kind``.
STDIO_TYPES: Final = ("", "file", "tty", "char", "pipe", "inet", "unix", "socket", "other")
SOCKET_TYPES: Final = frozenset({"inet", "unix", "socket"})


def stdio_sockets_of(types: tuple[str, str, str]) -> tuple[bool, bool, bool]:
    """``Process.stdio_sockets`` from ``Process.stdio_types``: which of fds 0..2 are sockets."""
    return (types[0] in SOCKET_TYPES, types[1] in SOCKET_TYPES, types[2] in SOCKET_TYPES)


class EventKind(StrEnum):
    """The closed set of runtime event kinds (DESIGN §4.4), ``object_verb`` snake case."""

    PROCESS_EXEC = "process_exec"
    PROCESS_EXIT = "process_exit"
    PROCESS_FORK = "process_fork"
    NET_CONNECT = "net_connect"
    NET_ACCEPT = "net_accept"
    NET_BIND = "net_bind"
    NET_LISTEN = "net_listen"
    UNIX_CONNECT = "unix_connect"
    DNS_QUERY = "dns_query"
    FILE_WRITE = "file_write"
    FILE_RENAME = "file_rename"
    FILE_LINK = "file_link"
    FILE_SYMLINK = "file_symlink"
    FILE_UNLINK = "file_unlink"
    FILE_CHMOD = "file_chmod"
    PTRACE = "ptrace"
    PROCESS_VM_WRITE = "process_vm_write"
    MEMFD_CREATE = "memfd_create"
    MOUNT = "mount"
    MODULE_LOAD = "module_load"
    CRED_CHANGE = "cred_change"
    USERFAULTFD = "userfaultfd"
    LIBRARY_LOAD = "library_load"
    STDIO_REDIRECT = "stdio_redirect"  # a network socket dup'ed onto stdin/stdout/stderr


@frozen
class Process:
    """A process as GuardDuty records it (reference §2), plus our stable identity.

    ``exec_id`` is stable across pid reuse: it is derived from the boot id, the host pid and
    the process start time in kernel ticks, so two processes never share one. ``start_time`` is
    wall-clock nanoseconds since the epoch.
    """

    exec_id: str
    parent_exec_id: str = ""
    pid: int
    ns_pid: int = 0
    ppid: int = 0
    name: str = ""
    exe_path: str = ""
    exe_sha256: str = ""
    argv: tuple[str, ...] = ()
    argv_truncated: bool = False
    cwd: str = ""
    uid: int = 0
    euid: int = 0
    gid: int = 0
    egid: int = 0
    user_name: str = ""
    start_time: int = 0
    ld_preload: str = ""
    ld_library_path: str = ""
    exe_from_memfd: bool = False
    exe_written_after_start: bool = False
    stdio_sockets: tuple[bool, bool, bool] = (False, False, False)
    # what fds 0..2 were at exec (STDIO_TYPES; "" when the sensor could not tell)
    stdio_types: tuple[str, str, str] = ("", "", "")

    @property
    def cmdline(self) -> str:
        """The argv joined by spaces, as Falco's ``proc.cmdline`` shows it (without the name)."""
        return " ".join(self.argv)


@frozen
class LineageEntry:
    """One ancestor in a process lineage, nearest parent first (GuardDuty ``LineageObject``)."""

    exec_id: str
    parent_exec_id: str = ""
    pid: int
    ns_pid: int = 0
    name: str = ""
    exe_path: str = ""
    uid: int = 0
    euid: int = 0
    start_time: int = 0


@frozen
class EcsTask:
    """The ECS task a container belongs to, as the ECS agent or task metadata v4 describe it."""

    cluster_arn: str
    task_arn: str
    family: str = ""
    revision: str = ""
    launch_type: str = ""
    started_at: str = ""
    started_by: str = ""
    group: str = ""
    container_name: str = ""


@frozen
class Container:
    """A container identified from its cgroup path (never from a hex-looking name)."""

    id: str
    runtime: str = ""
    name: str = ""
    image: str = ""
    image_id: str = ""
    cgroup: str = ""
    started_at: int = 0
    ecs: EcsTask | None = None


@frozen
class Host:
    """The machine the agent runs on; ``instance_id`` is the EC2 instance id where known."""

    hostname: str
    instance_id: str = ""
    boot_id: str = ""


@frozen
class ExecPayload:
    """A successful exec; the new image is the event's process."""

    filename: str = ""


@frozen
class ExitPayload:
    """A process (thread-group leader) ended with ``exit_code`` (raw wait status)."""

    exit_code: int = 0


@frozen
class ForkPayload:
    """A new process; ``child_pid`` is the host pid of the child."""

    child_pid: int


@frozen
class NetPayload:
    """A socket operation with an internet address: connect, accept, bind, listen; or, for
    ``stdio_redirect``, the socket that dup/dup2/dup3 put on ``fd`` (0, 1 or 2)."""

    family: int
    protocol: int
    local_ip: str = ""
    local_port: int = 0
    remote_ip: str = ""
    remote_port: int = 0
    direction: str = ""
    fd: int = -1


@frozen
class UnixPayload:
    """A connect on a unix socket."""

    path: str


@frozen
class DnsPayload:
    """A DNS query with its answer when seen; ``answers`` are addresses or names as text."""

    name: str
    qtype: str = "A"
    answers: tuple[str, ...] = ()
    rcode: str = ""
    protocol: str = "UDP"
    server_ip: str = ""


@frozen
class FilePayload:
    """A file change: write/create/truncate, rename, link, symlink, unlink or chmod."""

    path: str
    target_path: str = ""
    flags: int = 0
    mode: int = 0


@frozen
class TargetPayload:
    """An operation on another process: ptrace (with request) or process_vm_writev."""

    target_pid: int
    request: int = 0
    target: Process | None = None


@frozen
class MemfdPayload:
    """A memfd_create call with the name the process gave it."""

    name: str
    flags: int = 0


@frozen
class MountPayload:
    """A mount attempt, failing ones too (``result`` is the syscall's return value)."""

    source: str
    target: str
    fstype: str = ""
    flags: int = 0
    result: int = 0


@frozen
class ModulePayload:
    """A kernel module load attempt."""

    name: str = ""
    path: str = ""
    sha256: str = ""


@frozen
class CredPayload:
    """A credential change: the syscall and the ids before and after."""

    syscall: str
    old_uid: int = 0
    old_euid: int = 0
    new_uid: int = 0
    new_euid: int = 0
    new_gid: int = 0
    new_egid: int = 0


@frozen
class LibraryPayload:
    """A shared library mapped executable (``mmap`` with ``PROT_EXEC`` of a file).

    The sensor reports only libraries written inside the container after it started
    (``written_after_start``: the file is on the overlay's upper layer), once per
    container and file; ``dev``/``ino`` identify the file.
    """

    path: str
    written_after_start: bool = False
    dev: int = 0
    ino: int = 0


@frozen
class EmptyPayload:
    """A kind with nothing beyond the acting process (for example ``userfaultfd``)."""


Payload = (
    ExecPayload
    | ExitPayload
    | ForkPayload
    | NetPayload
    | UnixPayload
    | DnsPayload
    | FilePayload
    | TargetPayload
    | MemfdPayload
    | MountPayload
    | ModulePayload
    | CredPayload
    | LibraryPayload
    | EmptyPayload
)

PAYLOAD_BY_KIND: Final[dict[EventKind, type[Payload]]] = {
    EventKind.PROCESS_EXEC: ExecPayload,
    EventKind.PROCESS_EXIT: ExitPayload,
    EventKind.PROCESS_FORK: ForkPayload,
    EventKind.NET_CONNECT: NetPayload,
    EventKind.NET_ACCEPT: NetPayload,
    EventKind.NET_BIND: NetPayload,
    EventKind.NET_LISTEN: NetPayload,
    EventKind.STDIO_REDIRECT: NetPayload,
    EventKind.UNIX_CONNECT: UnixPayload,
    EventKind.DNS_QUERY: DnsPayload,
    EventKind.FILE_WRITE: FilePayload,
    EventKind.FILE_RENAME: FilePayload,
    EventKind.FILE_LINK: FilePayload,
    EventKind.FILE_SYMLINK: FilePayload,
    EventKind.FILE_UNLINK: FilePayload,
    EventKind.FILE_CHMOD: FilePayload,
    EventKind.PTRACE: TargetPayload,
    EventKind.PROCESS_VM_WRITE: TargetPayload,
    EventKind.MEMFD_CREATE: MemfdPayload,
    EventKind.MOUNT: MountPayload,
    EventKind.MODULE_LOAD: ModulePayload,
    EventKind.CRED_CHANGE: CredPayload,
    EventKind.USERFAULTFD: EmptyPayload,
    EventKind.LIBRARY_LOAD: LibraryPayload,
}


@frozen
class Event:
    """One runtime event: who did what, where, when.

    ``time`` is wall-clock nanoseconds since the epoch; ``ktime`` is the kernel monotonic
    timestamp (0 when the source has none). ``lineage`` lists ancestors, nearest first.
    ``agent_id`` is filled in by the agent, ``seq`` within a batch by the exporter.
    """

    kind: EventKind
    time: int
    ktime: int = 0
    host: Host
    process: Process
    lineage: tuple[LineageEntry, ...] = ()
    container: Container | None = None
    payload: Payload = field(default_factory=EmptyPayload)
    agent_id: str = ""
