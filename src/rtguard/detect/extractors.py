"""Field extractors for the event, the process, its container and ECS task, and sockets.

Each extractor is a small pure function that takes an ``Event`` and returns the field's value,
or ``None`` when the event has no such value (a host process has no image, a connect has no
file path). Extractors that take an argument (``proc.aname[2]``) are built by a factory once,
at rule-compile time; derived strings remember their last event (see the NOTE below). The
other payloads are in ``payload_extractors``; the catalogue that names both is
``rtguard.detect.fields``. This module must not know rule syntax, must not raise for a
well-formed ``Event`` and must not do I/O.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Final

from rtguard.model.events import (
    Event,
    EventKind,
    ExecPayload,
    FilePayload,
    MountPayload,
    NetPayload,
    UnixPayload,
)

FieldValue = str | int | bool | tuple[str, ...] | tuple[int, ...] | None
Extractor = Callable[[Event], FieldValue]

HOST: Final = "host"
_CLIENT_IS_LOCAL: Final = frozenset({EventKind.NET_CONNECT})
_CLIENT_IS_REMOTE: Final = frozenset({EventKind.NET_ACCEPT})
_L4PROTO: Final = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp", 255: "raw"}
_FAMILY_CHAR: Final = {2: "4", 10: "6"}
_FAMILY_TYPE: Final = {2: "ipv4", 10: "ipv6"}


def _or_none(value: str) -> str | None:
    return value or None


# -- evt -------------------------------------------------------------------------------------


def evt_type(e: Event) -> str:
    return e.kind.value


def evt_time(e: Event) -> int:
    return e.time


def evt_rawres(e: Event) -> int:
    # NOTE: the sensor records successful calls only; mount is the one kind with failures.
    p = e.payload
    return p.result if isinstance(p, MountPayload) else 0


def evt_hostname(e: Event) -> str:
    return e.host.hostname


def host_instance_id(e: Event) -> str | None:
    return _or_none(e.host.instance_id)


# -- proc ------------------------------------------------------------------------------------


def proc_name(e: Event) -> str:
    return e.process.name


def proc_exe(e: Event) -> str:
    argv = e.process.argv
    return argv[0] if argv else e.process.name


def proc_exepath(e: Event) -> str | None:
    return _or_none(e.process.exe_path)


# NOTE: the derived fields below (cmdline, args, names) build new strings and are read by many
# rules for the same event, so each remembers its last result. The memo is one immutable
# (event, value) tuple swapped atomically, holding the event so its identity cannot be reused:
# safe across threads, and the extractor stays a pure function of the event.
_cmdline_memo: tuple[Event | None, str] = (None, "")
_args_memo: tuple[Event | None, str] = (None, "")
_names_memo: tuple[Event | None, tuple[str, ...]] = (None, ())


def proc_cmdline(e: Event) -> str:
    global _cmdline_memo
    memo = _cmdline_memo
    if memo[0] is e:
        return memo[1]
    p = e.process
    argv = p.argv
    value = p.name if len(argv) < 2 else p.name + " " + " ".join(argv[1:])
    _cmdline_memo = (e, value)
    return value


def proc_args(e: Event) -> str:
    global _args_memo
    memo = _args_memo
    if memo[0] is e:
        return memo[1]
    value = " ".join(e.process.argv[1:])
    _args_memo = (e, value)
    return value


def proc_names(e: Event) -> tuple[str, ...]:
    """Every name the process goes by: its name, the base names of argv[0] and, on an exec,
    of the executed file (differs for symlinks such as sh -> dash, busybox applets, scripts)."""
    global _names_memo
    memo = _names_memo
    if memo[0] is e:
        return memo[1]
    p = e.process
    name = p.name
    argv = p.argv
    first = argv[0].rpartition("/")[2] if argv else name
    pl = e.payload
    run = pl.filename.rpartition("/")[2] if isinstance(pl, ExecPayload) and pl.filename else name
    if first == name and run == name:
        value: tuple[str, ...] = (name,)
    else:
        value = tuple(dict.fromkeys(n for n in (name, first, run) if n))
    _names_memo = (e, value)
    return value


def evt_arg_filename(e: Event) -> str | None:
    pl = e.payload
    return pl.filename or None if isinstance(pl, ExecPayload) else None


def proc_argv_all(e: Event) -> tuple[str, ...]:
    return e.process.argv


def proc_argv_at(index: int) -> Extractor:
    def extract(e: Event) -> str | None:
        argv = e.process.argv
        return argv[index] if index < len(argv) else None

    return extract


def proc_pid(e: Event) -> int:
    return e.process.pid


def proc_vpid(e: Event) -> int:
    return e.process.ns_pid


def proc_ppid(e: Event) -> int:
    return e.process.ppid


def proc_cwd(e: Event) -> str | None:
    return _or_none(e.process.cwd)


def proc_sha256(e: Event) -> str | None:
    return _or_none(e.process.exe_sha256)


def proc_exec_id(e: Event) -> str:
    return e.process.exec_id


def proc_pexec_id(e: Event) -> str | None:
    return _or_none(e.process.parent_exec_id)


def proc_start_time(e: Event) -> int | None:
    return e.process.start_time or None


def proc_duration(e: Event) -> int | None:
    start = e.process.start_time
    return e.time - start if start else None


def proc_is_exe_upper_layer(e: Event) -> bool:
    return e.process.exe_written_after_start


def proc_is_exe_from_memfd(e: Event) -> bool:
    return e.process.exe_from_memfd


def proc_is_argv_truncated(e: Event) -> bool:
    return e.process.argv_truncated


def proc_ld_preload(e: Event) -> str | None:
    return _or_none(e.process.ld_preload)


def proc_ld_library_path(e: Event) -> str | None:
    return _or_none(e.process.ld_library_path)


ENV_EXTRACTORS: Final[dict[str, Extractor]] = {
    "LD_PRELOAD": proc_ld_preload,
    "LD_LIBRARY_PATH": proc_ld_library_path,
}


def proc_stdio_socket(fd: int) -> Extractor:
    def extract(e: Event) -> bool:
        return e.process.stdio_sockets[fd]

    return extract


def proc_stdio_type(fd: int) -> Extractor:
    def extract(e: Event) -> str | None:
        return _or_none(e.process.stdio_types[fd])

    return extract


def proc_pname(e: Event) -> str | None:
    lineage = e.lineage
    return lineage[0].name if lineage else None


def proc_pexepath(e: Event) -> str | None:
    lineage = e.lineage
    return _or_none(lineage[0].exe_path) if lineage else None


def proc_aname_all(e: Event) -> tuple[str, ...]:
    return tuple(a.name for a in e.lineage)


def proc_apid_all(e: Event) -> tuple[int, ...]:
    return tuple(a.pid for a in e.lineage)


def proc_aexepath_all(e: Event) -> tuple[str, ...]:
    return tuple(a.exe_path for a in e.lineage if a.exe_path)


def proc_aname_at(index: int) -> Extractor:
    if index == 0:
        return proc_name
    at = index - 1

    def extract(e: Event) -> str | None:
        lineage = e.lineage
        return lineage[at].name if at < len(lineage) else None

    return extract


def proc_apid_at(index: int) -> Extractor:
    if index == 0:
        return proc_pid
    at = index - 1

    def extract(e: Event) -> int | None:
        lineage = e.lineage
        return lineage[at].pid if at < len(lineage) else None

    return extract


def proc_aexepath_at(index: int) -> Extractor:
    if index == 0:
        return proc_exepath
    at = index - 1

    def extract(e: Event) -> str | None:
        lineage = e.lineage
        return _or_none(lineage[at].exe_path) if at < len(lineage) else None

    return extract


# -- user and group --------------------------------------------------------------------------


def user_uid(e: Event) -> int:
    return e.process.uid


def user_euid(e: Event) -> int:
    return e.process.euid


def user_name(e: Event) -> str | None:
    return _or_none(e.process.user_name)


def group_gid(e: Event) -> int:
    return e.process.gid


def group_egid(e: Event) -> int:
    return e.process.egid


# -- container and ECS -----------------------------------------------------------------------


def container_id(e: Event) -> str:
    c = e.container
    return c.id if c is not None else HOST


def container_name(e: Event) -> str | None:
    c = e.container
    return _or_none(c.name) if c is not None else HOST


def container_image(e: Event) -> str | None:
    c = e.container
    return _or_none(c.image) if c is not None else None


def split_image(image: str) -> tuple[str, str, str]:
    """``repo[:tag][@digest]`` → (repository, tag, digest); a registry port is not a tag."""
    repo, _, digest = image.partition("@")
    slash = repo.rfind("/")
    colon = repo.rfind(":")
    if colon > slash:
        return repo[:colon], repo[colon + 1 :], digest
    return repo, "", digest


def container_image_repository(e: Event) -> str | None:
    c = e.container
    return _or_none(split_image(c.image)[0]) if c is not None else None


def container_image_tag(e: Event) -> str | None:
    c = e.container
    return _or_none(split_image(c.image)[1]) if c is not None else None


def container_image_id(e: Event) -> str | None:
    c = e.container
    return _or_none(c.image_id) if c is not None else None


def container_type(e: Event) -> str | None:
    c = e.container
    return _or_none(c.runtime) if c is not None else None


def ecs_cluster_arn(e: Event) -> str | None:
    c = e.container
    return c.ecs.cluster_arn if c is not None and c.ecs is not None else None


def ecs_cluster(e: Event) -> str | None:
    arn = ecs_cluster_arn(e)
    return arn.rsplit("/", 1)[-1] if arn else None


def ecs_task_arn(e: Event) -> str | None:
    c = e.container
    return c.ecs.task_arn if c is not None and c.ecs is not None else None


def ecs_task_family(e: Event) -> str | None:
    c = e.container
    return _or_none(c.ecs.family) if c is not None and c.ecs is not None else None


def ecs_task_launch_type(e: Event) -> str | None:
    c = e.container
    return _or_none(c.ecs.launch_type) if c is not None and c.ecs is not None else None


def ecs_container_name(e: Event) -> str | None:
    c = e.container
    return _or_none(c.ecs.container_name) if c is not None and c.ecs is not None else None


# -- fd: files, unix sockets and internet sockets ----------------------------------------------


def _path(e: Event) -> str | None:
    p = e.payload
    if isinstance(p, FilePayload | UnixPayload):
        return p.path or None
    return None


def _client(e: Event, p: NetPayload) -> tuple[str, int] | None:
    if e.kind in _CLIENT_IS_LOCAL:
        return p.local_ip, p.local_port
    if e.kind in _CLIENT_IS_REMOTE:
        return p.remote_ip, p.remote_port
    return None


def _server(e: Event, p: NetPayload) -> tuple[str, int]:
    if e.kind in _CLIENT_IS_LOCAL:
        return p.remote_ip, p.remote_port
    return p.local_ip, p.local_port


def fd_name(e: Event) -> str | None:
    p = e.payload
    if isinstance(p, NetPayload):
        sip, sport = _server(e, p)
        client = _client(e, p)
        return f"{client[0]}:{client[1]}->{sip}:{sport}" if client else f"{sip}:{sport}"
    return _path(e)


def fd_directory(e: Event) -> str | None:
    path = _path(e)
    return posixpath.dirname(path) or None if path else None


def fd_filename(e: Event) -> str | None:
    path = _path(e)
    return posixpath.basename(path) or None if path else None


def fd_typechar(e: Event) -> str | None:
    p = e.payload
    if isinstance(p, NetPayload):
        return _FAMILY_CHAR.get(p.family)
    if isinstance(p, UnixPayload):
        return "u"
    return "f" if isinstance(p, FilePayload) else None


def fd_type(e: Event) -> str | None:
    p = e.payload
    if isinstance(p, NetPayload):
        return _FAMILY_TYPE.get(p.family)
    if isinstance(p, UnixPayload):
        return "unix"
    return "file" if isinstance(p, FilePayload) else None


def fd_l4proto(e: Event) -> str | None:
    p = e.payload
    return _L4PROTO.get(p.protocol) if isinstance(p, NetPayload) else None


def fd_sip(e: Event) -> str | None:
    p = e.payload
    return _or_none(_server(e, p)[0]) if isinstance(p, NetPayload) else None


def fd_sport(e: Event) -> int | None:
    p = e.payload
    return _server(e, p)[1] if isinstance(p, NetPayload) else None


def fd_cip(e: Event) -> str | None:
    p = e.payload
    if not isinstance(p, NetPayload):
        return None
    client = _client(e, p)
    return _or_none(client[0]) if client else None


def fd_cport(e: Event) -> int | None:
    p = e.payload
    if not isinstance(p, NetPayload):
        return None
    client = _client(e, p)
    return client[1] if client else None


def fd_lip(e: Event) -> str | None:
    p = e.payload
    return _or_none(p.local_ip) if isinstance(p, NetPayload) else None


def fd_lport(e: Event) -> int | None:
    p = e.payload
    return p.local_port if isinstance(p, NetPayload) else None


def fd_rip(e: Event) -> str | None:
    p = e.payload
    return _or_none(p.remote_ip) if isinstance(p, NetPayload) else None


def fd_rport(e: Event) -> int | None:
    p = e.payload
    return p.remote_port if isinstance(p, NetPayload) else None


def fd_num(e: Event) -> int | None:
    p = e.payload
    return p.fd if isinstance(p, NetPayload) and p.fd >= 0 else None
