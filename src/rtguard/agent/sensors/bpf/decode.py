"""Pure decoding of raw ring-buffer records (``bpf/rtguard.h``) into sensor records.

``decode(raw)`` reads the op byte and dispatches through ``DECODERS`` to one decoder per record
kind; each returns an ``ExecRecord``, ``ForkRecord`` or ``ExitRecord``, or a ``DecodeError``
that says what was wrong. A malformed record is an outcome, never an exception: the caller
counts it and goes on. Pure: no I/O, no clock, no process look-ups, no state; it must NOT
import libbpf or touch the kernel, so it is tested with hand-built bytes and fuzzing.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from rtguard.agent.sensors.bpf import abi
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
from rtguard.model.events import STDIO_TYPES

__all__ = [
    "DECODERS",
    "DecodeError",
    "DecodeErrorKind",
    "Decoded",
    "Decoder",
    "cgroup_path",
    "decode",
    "env_loader_vars",
    "ip_text",
    "split_args",
    "user_dev",
]


class DecodeErrorKind(enum.StrEnum):
    """Why a record could not be decoded (the ``kind`` label of the decode-error counter)."""

    TOO_SHORT = "too_short"
    UNKNOWN_OP = "unknown_op"
    BAD_SIZE = "bad_size"
    ABI_MISMATCH = "abi_mismatch"
    BAD_TAIL = "bad_tail"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeError:
    """A record that could not be decoded: its kind, op byte (0 if none) and length."""

    kind: DecodeErrorKind
    op: int
    size: int
    detail: str = ""


Decoded = Record | DecodeError
Decoder = Callable[[bytes], Decoded]

_HDR: Final = struct.Struct(abi.struct_format(abi.RtgHdr))
_EXEC: Final = struct.Struct(abi.struct_format(abi.RtgExec))
_FORK: Final = struct.Struct(abi.struct_format(abi.RtgFork))
_EXIT: Final = struct.Struct(abi.struct_format(abi.RtgExit))
_NET: Final = struct.Struct(abi.struct_format(abi.RtgNet))
_UNIX: Final = struct.Struct(abi.struct_format(abi.RtgUnix))
_DNS: Final = struct.Struct(abi.struct_format(abi.RtgDns))
_FILE: Final = struct.Struct(abi.struct_format(abi.RtgFile))
_PROC: Final = struct.Struct(abi.struct_format(abi.RtgProcOp))
_MOUNT: Final = struct.Struct(abi.struct_format(abi.RtgMount))
_LIB: Final = struct.Struct(abi.struct_format(abi.RtgLib))
_EXE_MEMFD: Final = int(abi.Flag.EXE_MEMFD)
_EXE_UPPER: Final = int(abi.Flag.EXE_UPPER)
_PATH_TRUNC: Final = int(abi.Flag.PATH_TRUNC)
_DATA_TRUNC: Final = int(abi.Flag.DATA_TRUNC)
_AF_INET6: Final = 10
_PROTO_NAMES: Final = {6: "TCP", 17: "UDP"}
_NET_KINDS: Final = {k.value: k.name.lower() for k in abi.NetKind}
_FILE_KINDS: Final = {k.value: k.name.lower() for k in abi.FileKind}
_PROC_KINDS: Final = {k.value: k.name.lower() for k in abi.ProcKind}
_MOUNT_KINDS: Final = {
    k.value: {abi.MountKind.MOVE: "move_mount", abi.MountKind.SETATTR: "mount_setattr"}.get(k, k.name.lower())
    for k in abi.MountKind
}
# x86-64 syscall numbers of the credential syscalls the kernel program watches.
CRED_SYSCALLS: Final = {
    105: "setuid",
    106: "setgid",
    113: "setreuid",
    114: "setregid",
    117: "setresuid",
    119: "setresgid",
}
# Plain ints: IntFlag arithmetic costs ~1 µs per operation on the hot path.
_ARGS_CUT: Final = int(abi.Flag.ARGS_TRUNC | abi.Flag.ARGS_FAULT)
_CGROUP_DEEP: Final = int(abi.Flag.CGROUP_DEEP)
_TEXT_ERRORS: Final = "backslashreplace"


def _text(raw: bytes) -> str:
    """Bytes up to the first NUL, as text; undecodable bytes become ``\\xNN``."""
    return raw.split(b"\0", 1)[0].decode("utf-8", _TEXT_ERRORS)


def user_dev(kdev: int) -> int:
    """Convert a kernel ``dev_t`` (``major << 20 | minor``) to the ``st_dev`` encoding of stat()."""
    major, minor = kdev >> 20, kdev & 0xFFFFF
    return (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12) | ((major & ~0xFFF) << 32)


def cgroup_path(names_leaf_first: list[bytes], *, deep: bool = False) -> str:
    """Join kernfs names (leaf first, as the kernel sends them) into a cgroup path.

    Args:
        names_leaf_first: the components below the root, nearest to the task first.
        deep: the kernel cut levels above these; the path then starts with ``/...``.

    Returns:
        ``"/"`` for the root, else e.g. ``"/ecs/<task>/<64hex>"``.
    """
    if not names_leaf_first:
        return "/"
    path = "/" + b"/".join(reversed(names_leaf_first)).decode("utf-8", _TEXT_ERRORS)
    return "/..." + path if deep else path


@functools.lru_cache(maxsize=512)
def _cgroup_area(area: bytes, depth: int, deep: bool) -> str | None:
    """The path for a raw cgroup area of ``depth`` NUL-terminated names, or None if malformed.

    Cached: a host has few cgroups and every exec in one repeats the same bytes.
    """
    names = area.split(b"\0")
    if depth > abi.CGROUP_MAX_DEPTH or len(names) != depth + 1 or names[-1]:
        return None
    return cgroup_path(names[:-1], deep=deep)


def split_args(area: bytes) -> tuple[str, ...]:
    """Split a raw argv area (args separated by NUL) into args.

    A trailing NUL ends the last arg; without one the last arg was cut by the kernel and is
    kept as far as it goes.
    """
    if not area:
        return ()
    if area.endswith(b"\0"):
        area = area[:-1]
    return tuple(area.decode("utf-8", _TEXT_ERRORS).split("\0"))


def ip_text(family: int, raw: bytes) -> str:
    """An address as text: IPv4 from the first 4 bytes, IPv6 from 16 (``""`` for all zeros)."""
    if family == _AF_INET6:
        return str(ipaddress.IPv6Address(raw[:16].ljust(16, b"\0")))
    addr = raw[:4].ljust(4, b"\0")
    return str(ipaddress.IPv4Address(addr))


def env_loader_vars(area: bytes) -> tuple[str, str, bool]:
    """``(LD_PRELOAD, LD_LIBRARY_PATH, seen)`` from a raw environment area (``KEY=value`` NUL-separated).

    Only these two variables are kept: the rest of the environment may hold secrets and never
    leaves this function. ``seen`` is False for an empty area (nothing could be read).
    """
    if not area:
        return "", "", False
    preload = library_path = ""
    if b"LD_" in area:
        for item in area.split(b"\0"):
            if item.startswith(b"LD_PRELOAD="):
                preload = item[11:].decode("utf-8", _TEXT_ERRORS)
            elif item.startswith(b"LD_LIBRARY_PATH="):
                library_path = item[16:].decode("utf-8", _TEXT_ERRORS)
    return preload, library_path, True


# An exec's strings (file name, cgroup, argv, cwd, exe path, environment) repeat whenever a
# program is run again the same way (health checks, cron, shell loops): their decoding is
# cached by the raw bytes, bounded in entries and in bytes held.
_ExecStrings = tuple[str, str, tuple[str, ...], str, str, str, str, bool]
_EXEC_STRINGS: dict[tuple[bytes, int, int, int, int, int, int, int], _ExecStrings] = {}
_EXEC_STRINGS_MAX: Final = 512
_EXEC_STRINGS_MAX_BYTES: Final = 1 << 20
_exec_strings_bytes = 0
_COMMS: dict[bytes, str] = {}
# rtg_stdio_kind → name (index = kind; 9..15 are not defined by this ABI: "other")
_STDIO_NAMES: Final = (*STDIO_TYPES, *(["other"] * (16 - len(STDIO_TYPES))))


def _exec_strings(
    tail: bytes, filename_len: int, cgroup_len: int, args_len: int, cwd_len: int, exe_len: int,
    cgroup_depth: int, flags: int,
) -> _ExecStrings | None:  # fmt: skip
    """Decode an exec record's variable part; None if the cgroup area is malformed."""
    cg_end = filename_len + cgroup_len
    args_end = cg_end + args_len
    cwd_end = args_end + cwd_len
    exe_end = cwd_end + exe_len
    path = _cgroup_area(tail[filename_len:cg_end], cgroup_depth, bool(flags & _CGROUP_DEEP))
    if path is None:
        return None
    preload, library_path, env_seen = env_loader_vars(tail[exe_end:])
    return (
        _text(tail[:filename_len]),
        path,
        split_args(tail[cg_end:args_end]),
        _text(tail[args_end:cwd_end]),
        _text(tail[cwd_end:exe_end]),
        preload,
        library_path,
        env_seen,
    )


def _remember_exec_strings(
    key: tuple[bytes, int, int, int, int, int, int, int], strings: _ExecStrings
) -> None:
    global _exec_strings_bytes
    if len(_EXEC_STRINGS) >= _EXEC_STRINGS_MAX or _exec_strings_bytes + len(key[0]) > _EXEC_STRINGS_MAX_BYTES:
        _EXEC_STRINGS.clear()
        _exec_strings_bytes = 0
    _EXEC_STRINGS[key] = strings
    _exec_strings_bytes += len(key[0])


def _stdio_types(kinds: int) -> tuple[str, str, str]:
    """``rtg_exec.stdio_kinds`` (4 bits per fd) as STDIO_TYPES names; unknown values are "other"."""
    return (_STDIO_NAMES[kinds & 0xF], _STDIO_NAMES[(kinds >> 4) & 0xF], _STDIO_NAMES[(kinds >> 8) & 0xF])


def _comm_text(raw: bytes) -> str:
    text = _COMMS.get(raw)
    if text is None:
        if len(_COMMS) >= _EXEC_STRINGS_MAX:
            _COMMS.clear()
        text = _COMMS[raw] = _text(raw)
    return text


def _decode_exec(raw: bytes) -> Decoded:
    if len(raw) < _EXEC.size:
        return DecodeError(kind=DecodeErrorKind.TOO_SHORT, op=abi.Op.EXEC, size=len(raw))
    (
        _op,
        _abi_major,
        flags,
        _size,
        ktime,
        pid,
        tid,
        ppid,
        ns_pid,
        uid,
        euid,
        gid,
        egid,
        start_boottime,
        parent_start_boottime,
        cgroup_id,
        mntns,
        pidns,
        exe_ino,
        exe_mtime_ns,
        exe_dev,
        _args_size,
        filename_len,
        cgroup_len,
        args_len,
        cgroup_depth,
        stdio,
        comm,
        cwd_len,
        exe_len,
        env_len,
        stdio_kinds,
        _env_size,
        _pad2,
    ) = _EXEC.unpack_from(raw)
    tail = raw[_EXEC.size :]
    if filename_len + cgroup_len + args_len + cwd_len + exe_len + env_len != len(tail):
        return DecodeError(
            kind=DecodeErrorKind.BAD_TAIL,
            op=abi.Op.EXEC,
            size=len(raw),
            detail=f"lengths {filename_len}+{cgroup_len}+{args_len}+{cwd_len}+{exe_len}+{env_len} "
            f"!= tail {len(tail)}",
        )
    key = (tail, filename_len, cgroup_len, args_len, cwd_len, exe_len, cgroup_depth, flags & _CGROUP_DEEP)
    strings = _EXEC_STRINGS.get(key)
    if strings is None:
        strings = _exec_strings(
            tail, filename_len, cgroup_len, args_len, cwd_len, exe_len, cgroup_depth, flags
        )
        if strings is None:
            return DecodeError(
                kind=DecodeErrorKind.BAD_TAIL,
                op=abi.Op.EXEC,
                size=len(raw),
                detail=f"cgroup area does not hold {cgroup_depth} names",
            )
        _remember_exec_strings(key, strings)
    filename, path, argv, cwd, exe_path, preload, library_path, env_seen = strings
    return ExecRecord(
        ktime=ktime,
        pid=pid,
        tid=tid,
        ppid=ppid,
        ns_pid=ns_pid,
        uid=uid,
        euid=euid,
        gid=gid,
        egid=egid,
        start_boottime=start_boottime,
        parent_start_boottime=parent_start_boottime,
        comm=_comm_text(comm),
        filename=filename,
        argv=argv,
        argv_truncated=bool(flags & _ARGS_CUT),
        cgroup_id=cgroup_id,
        cgroup_path=path,
        mntns=mntns,
        pidns=pidns,
        exe_dev=user_dev(exe_dev),
        exe_ino=exe_ino,
        exe_mtime=exe_mtime_ns,
        cwd=cwd,
        exe_path=exe_path,
        env_seen=env_seen,
        ld_preload=preload,
        ld_library_path=library_path,
        stdio_sockets=(bool(stdio & 1), bool(stdio & 2), bool(stdio & 4)),
        stdio_types=_stdio_types(stdio_kinds),
        exe_from_memfd=bool(flags & _EXE_MEMFD),
        exe_on_upper=bool(flags & _EXE_UPPER),
    )


def _decode_fork(raw: bytes) -> Decoded:
    if len(raw) != _FORK.size:
        return DecodeError(kind=DecodeErrorKind.BAD_SIZE, op=abi.Op.FORK, size=len(raw))
    _op, _abi, _flags, _size, ktime, parent_pid, child_pid, parent_start, child_start, ns_pid, _p = (
        _FORK.unpack(raw)
    )
    return ForkRecord(
        ktime=ktime,
        child_ns_pid=ns_pid,
        parent_pid=parent_pid,
        child_pid=child_pid,
        parent_start_boottime=parent_start,
        child_start_boottime=child_start,
    )


def _decode_exit(raw: bytes) -> Decoded:
    if len(raw) != _EXIT.size:
        return DecodeError(kind=DecodeErrorKind.BAD_SIZE, op=abi.Op.EXIT, size=len(raw))
    _op, _abi, _flags, _size, ktime, pid, exit_code, start_boottime = _EXIT.unpack(raw)
    return ExitRecord(ktime=ktime, pid=pid, start_boottime=start_boottime, exit_code=exit_code)


def _bad_size(op: int, raw: bytes, detail: str = "") -> DecodeError:
    return DecodeError(kind=DecodeErrorKind.BAD_SIZE, op=op, size=len(raw), detail=detail)


def _bad_tail(op: int, raw: bytes, detail: str) -> DecodeError:
    return DecodeError(kind=DecodeErrorKind.BAD_TAIL, op=op, size=len(raw), detail=detail)


def _decode_net(raw: bytes) -> Decoded:
    if len(raw) != _NET.size:
        return _bad_size(abi.Op.NET, raw)
    (_op, _abi, _flags, _size, ktime, pid, tid, start, ret, family, kind, protocol, sock_type, lport,
     rport, _pad, laddr, raddr) = _NET.unpack(raw)  # fmt: skip
    name = _NET_KINDS.get(kind)
    if name is None:
        return _bad_tail(abi.Op.NET, raw, f"unknown net kind {kind}")
    return NetRecord(
        ktime=ktime,
        pid=pid,
        tid=tid,
        start_boottime=start,
        kind=name,
        result=ret,
        family=family,
        protocol=protocol,
        sock_type=sock_type,
        local_ip=ip_text(family, laddr),
        local_port=lport,
        remote_ip=ip_text(family, raddr) if kind not in (abi.NetKind.BIND, abi.NetKind.LISTEN) else "",
        remote_port=rport,
    )


def _decode_unix(raw: bytes) -> Decoded:
    if len(raw) != _UNIX.size:
        return _bad_size(abi.Op.UNIX, raw)
    _op, _abi, _flags, _size, ktime, pid, tid, start, ret, sock_type, path_len, path, _pad = _UNIX.unpack(raw)
    area = path[: min(path_len, abi.UNIX_PATH_MAX)]
    if area[:1] == b"\0":  # an abstract name: not NUL-terminated, shown as "@name"
        text = "@" + area[1:].rstrip(b"\0").decode("utf-8", _TEXT_ERRORS)
    else:
        text = _text(area)
    return UnixConnectRecord(
        ktime=ktime, pid=pid, tid=tid, start_boottime=start, path=text, result=ret, sock_type=sock_type
    )


def _decode_dns(raw: bytes) -> Decoded:
    if len(raw) < _DNS.size:
        return DecodeError(kind=DecodeErrorKind.TOO_SHORT, op=abi.Op.DNS, size=len(raw))
    (_op, _abi, flags, _size, ktime, pid, tid, start, family, direction, protocol, lport, rport, raddr,
     data_len, _pad, msg_size) = _DNS.unpack_from(raw)  # fmt: skip
    data = raw[_DNS.size :]
    if len(data) != data_len or data_len > abi.DNS_MAX:
        return _bad_tail(abi.Op.DNS, raw, f"data_len {data_len} != tail {len(data)}")
    return DnsRecord(
        ktime=ktime,
        pid=pid,
        tid=tid,
        start_boottime=start,
        outgoing=direction == 0,
        protocol=_PROTO_NAMES.get(protocol, str(protocol)),
        server_ip=ip_text(family, raddr),
        server_port=rport,
        local_port=lport,
        message=data,
        truncated=bool(flags & _DATA_TRUNC) or msg_size > data_len,
    )


def _strings(area: bytes, lengths: tuple[int, ...]) -> list[str] | None:
    """Cut consecutive NUL-terminated strings of the given byte lengths out of ``area``."""
    if sum(lengths) != len(area):
        return None
    out: list[str] = []
    pos = 0
    for n in lengths:
        out.append(_text(area[pos : pos + n]))
        pos += n
    return out


def _decode_file(raw: bytes) -> Decoded:
    if len(raw) < _FILE.size:
        return DecodeError(kind=DecodeErrorKind.TOO_SHORT, op=abi.Op.FILE, size=len(raw))
    (_op, _abi, flags, _size, ktime, pid, tid, start, ret, kind, _p0, path_len, oflags, mode, path2_len,
     _p1, _p2) = _FILE.unpack_from(raw)  # fmt: skip
    name = _FILE_KINDS.get(kind)
    paths = _strings(raw[_FILE.size :], (path_len, path2_len))
    if name is None or paths is None:
        return _bad_tail(abi.Op.FILE, raw, f"kind {kind}, lengths {path_len}+{path2_len}")
    return FileRecord(
        ktime=ktime,
        pid=pid,
        tid=tid,
        start_boottime=start,
        kind=name,
        path=paths[0],
        path2=paths[1],
        flags=oflags,
        mode=mode,
        result=ret,
        truncated=bool(flags & _PATH_TRUNC),
    )


def _decode_proc(raw: bytes) -> Decoded:
    if len(raw) < _PROC.size:
        return DecodeError(kind=DecodeErrorKind.TOO_SHORT, op=abi.Op.PROC, size=len(raw))
    (_op, _abi, _flags, _size, ktime, pid, tid, start, ret, kind, _p0, str_len, arg0, arg1, target,
     old_uid, old_euid, new_uid, new_euid, new_gid, new_egid, _p1) = _PROC.unpack_from(raw)  # fmt: skip
    name = _PROC_KINDS.get(kind)
    tail = raw[_PROC.size :]
    if name is None or len(tail) != str_len:
        return _bad_tail(abi.Op.PROC, raw, f"kind {kind}, str_len {str_len} tail {len(tail)}")
    path = ""
    if kind == abi.ProcKind.MODULE:  # params NUL, then (finit_module) the module file's path NUL
        _params, _sep, rest = tail.partition(b"\0")
        path = _text(rest)
    return ProcOpRecord(
        ktime=ktime,
        pid=pid,
        tid=tid,
        start_boottime=start,
        kind=name,
        result=ret,
        arg0=arg0,
        arg1=arg1,
        target_pid=target,
        text=_text(tail),
        syscall=CRED_SYSCALLS.get(arg0, f"syscall_{arg0}") if kind == abi.ProcKind.CRED else "",
        old_uid=old_uid,
        old_euid=old_euid,
        new_uid=new_uid,
        new_euid=new_euid,
        new_gid=new_gid,
        new_egid=new_egid,
        path=path,
    )


def _decode_mount(raw: bytes) -> Decoded:
    if len(raw) < _MOUNT.size:
        return DecodeError(kind=DecodeErrorKind.TOO_SHORT, op=abi.Op.MOUNT, size=len(raw))
    (_op, _abi, _flags, _size, ktime, pid, tid, start, ret, source_len, target_len, mflags, fstype_len,
     kind, _p1) = _MOUNT.unpack_from(raw)  # fmt: skip
    parts = _strings(raw[_MOUNT.size :], (source_len, target_len, fstype_len))
    if parts is None:
        return _bad_tail(abi.Op.MOUNT, raw, f"lengths {source_len}+{target_len}+{fstype_len}")
    return MountRecord(
        ktime=ktime,
        pid=pid,
        tid=tid,
        start_boottime=start,
        source=parts[0],
        target=parts[1],
        fstype=parts[2],
        flags=mflags,
        result=ret,
        syscall=_MOUNT_KINDS.get(kind, f"mount_{kind}"),
    )


def _decode_lib(raw: bytes) -> Decoded:
    if len(raw) < _LIB.size:
        return DecodeError(kind=DecodeErrorKind.TOO_SHORT, op=abi.Op.LIB, size=len(raw))
    (_op, _abi, flags, _size, ktime, pid, tid, start, cgroup_id, ino, mtime, dev, prot, mflags, path_len,
     _p0) = _LIB.unpack_from(raw)  # fmt: skip
    tail = raw[_LIB.size :]
    if len(tail) != path_len or (tail and not tail.endswith(b"\0")):
        return _bad_tail(abi.Op.LIB, raw, f"path_len {path_len} != tail {len(tail)}")
    return LibraryRecord(
        ktime=ktime,
        pid=pid,
        tid=tid,
        start_boottime=start,
        path=_text(tail),
        cgroup_id=cgroup_id,
        dev=user_dev(dev),
        ino=ino,
        mtime=mtime,
        prot=prot,
        mmap_flags=mflags,
        truncated=bool(flags & _PATH_TRUNC),
    )


DECODERS: Final[Mapping[int, Decoder]] = MappingProxyType(
    {
        abi.Op.EXEC: _decode_exec,
        abi.Op.FORK: _decode_fork,
        abi.Op.EXIT: _decode_exit,
        abi.Op.NET: _decode_net,
        abi.Op.UNIX: _decode_unix,
        abi.Op.DNS: _decode_dns,
        abi.Op.FILE: _decode_file,
        abi.Op.PROC: _decode_proc,
        abi.Op.MOUNT: _decode_mount,
        abi.Op.LIB: _decode_lib,
    }
)


def decode(raw: bytes) -> Decoded:
    """Decode one raw record.

    Args:
        raw: exactly one record as the ring buffer delivered it.

    Returns:
        The sensor record, or a ``DecodeError`` (never raises).
    """
    if len(raw) < _HDR.size:
        return DecodeError(kind=DecodeErrorKind.TOO_SHORT, op=raw[0] if raw else 0, size=len(raw))
    op, abi_major, _flags, size, _ktime = _HDR.unpack_from(raw)
    decoder = DECODERS.get(op)
    if decoder is None:
        return DecodeError(kind=DecodeErrorKind.UNKNOWN_OP, op=op, size=len(raw))
    if abi_major != abi.ABI_MAJOR:
        return DecodeError(
            kind=DecodeErrorKind.ABI_MISMATCH, op=op, size=len(raw), detail=f"record ABI major {abi_major}"
        )
    if size != len(raw):
        return DecodeError(
            kind=DecodeErrorKind.BAD_SIZE, op=op, size=len(raw), detail=f"header says {size} bytes"
        )
    try:
        return decoder(raw)
    except (struct.error, ValueError) as exc:  # a decoder bug; fuzzing keeps this unreachable
        return DecodeError(kind=DecodeErrorKind.INTERNAL, op=op, size=len(raw), detail=repr(exc))
