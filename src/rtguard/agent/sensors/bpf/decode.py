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
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from rtguard.agent.sensors.bpf import abi
from rtguard.agent.sensors.records import ExecRecord, ExitRecord, ForkRecord, Record

__all__ = [
    "DECODERS",
    "DecodeError",
    "DecodeErrorKind",
    "Decoded",
    "Decoder",
    "cgroup_path",
    "decode",
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
        _pad0,
        comm,
    ) = _EXEC.unpack_from(raw)
    tail = raw[_EXEC.size :]
    if filename_len + cgroup_len + args_len != len(tail):
        return DecodeError(
            kind=DecodeErrorKind.BAD_TAIL,
            op=abi.Op.EXEC,
            size=len(raw),
            detail=f"lengths {filename_len}+{cgroup_len}+{args_len} != tail {len(tail)}",
        )
    cg_end = filename_len + cgroup_len
    path = _cgroup_area(tail[filename_len:cg_end], cgroup_depth, bool(flags & _CGROUP_DEEP))
    if path is None:
        return DecodeError(
            kind=DecodeErrorKind.BAD_TAIL,
            op=abi.Op.EXEC,
            size=len(raw),
            detail=f"cgroup area does not hold {cgroup_depth} names",
        )
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
        comm=_text(comm),
        filename=_text(tail[:filename_len]),
        argv=split_args(tail[cg_end:]),
        argv_truncated=bool(flags & _ARGS_CUT),
        cgroup_id=cgroup_id,
        cgroup_path=path,
        mntns=mntns,
        pidns=pidns,
        exe_dev=user_dev(exe_dev),
        exe_ino=exe_ino,
        exe_mtime=exe_mtime_ns,
    )


def _decode_fork(raw: bytes) -> Decoded:
    if len(raw) != _FORK.size:
        return DecodeError(kind=DecodeErrorKind.BAD_SIZE, op=abi.Op.FORK, size=len(raw))
    _op, _abi, _flags, _size, ktime, parent_pid, child_pid, parent_start, child_start = _FORK.unpack(raw)
    return ForkRecord(
        ktime=ktime,
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


DECODERS: Final[Mapping[int, Decoder]] = MappingProxyType(
    {
        abi.Op.EXEC: _decode_exec,
        abi.Op.FORK: _decode_fork,
        abi.Op.EXIT: _decode_exit,
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
