"""The kernel↔user ABI in Python: a ``ctypes.Structure`` mirror of ``bpf/rtguard.h``.

Every struct, enum and size constant of the header has its twin here, and
``tests/agent/sensors/bpf/test_bpf_abi_layout.py`` compiles the header with the host C compiler
to prove the sizes and offsets agree. ``struct_format`` turns a mirror into a ``struct`` format
so that the decoder unpacks a record in one call. This module only describes layouts: it must
NOT read records, do I/O, or import libbpf. Change it together with ``rtguard.h`` and
``bpf/ABI_VERSION`` (bump rules in ``bpf/README.md``).
"""

from __future__ import annotations

import ctypes
import enum
from typing import Final

__all__ = [
    "ABI_MAJOR",
    "ABI_MINOR",
    "ABI_PATCH",
    "ABI_VERSION",
    "ARGS_MAX",
    "CGROUP_MAX_DEPTH",
    "CGROUP_NAME_MAX",
    "COMM_LEN",
    "COUNTER_SLOTS",
    "DNS_MAX",
    "ENV_MAX",
    "FILENAME_MAX",
    "PATH_DEPTH",
    "PATH_MAX",
    "PREFIX_LEN",
    "PREFIX_SLOTS",
    "STRUCTS",
    "STR_MAX",
    "UNIX_PATH_MAX",
    "Counter",
    "FileKind",
    "Flag",
    "MountKind",
    "NetKind",
    "Op",
    "ProcKind",
    "RtgConfig",
    "RtgDns",
    "RtgExec",
    "RtgExit",
    "RtgFile",
    "RtgFork",
    "RtgHdr",
    "RtgLib",
    "RtgMount",
    "RtgNet",
    "RtgProcOp",
    "RtgTask",
    "RtgUnix",
    "Stdio",
    "StdioKind",
    "abi_version_code",
    "flat_fields",
    "struct_format",
]

ABI_MAJOR: Final = 3
ABI_MINOR: Final = 3
ABI_PATCH: Final = 2
ABI_VERSION: Final = f"{ABI_MAJOR}.{ABI_MINOR}.{ABI_PATCH}"

COMM_LEN: Final = 16
FILENAME_MAX: Final = 256
CGROUP_MAX_DEPTH: Final = 6
CGROUP_NAME_MAX: Final = 128
ARGS_MAX: Final = 4096
COUNTER_SLOTS: Final = 8
PATH_MAX: Final = 1024
PATH_DEPTH: Final = 32
ENV_MAX: Final = 4096
UNIX_PATH_MAX: Final = 108
DNS_MAX: Final = 512
STR_MAX: Final = 256
PREFIX_SLOTS: Final = 24
PREFIX_LEN: Final = 64


def abi_version_code(major: int, minor: int, patch: int) -> int:
    """Pack a version like ``RTG_ABI_VERSION_CODE`` does: ``major << 16 | minor << 8 | patch``."""
    return (major << 16) | (minor << 8) | patch


class Op(enum.IntEnum):
    """``enum rtg_op``: the first byte of every record."""

    EXEC = 1
    FORK = 2
    EXIT = 3
    NET = 4
    UNIX = 5
    DNS = 6
    FILE = 7
    PROC = 8
    MOUNT = 9
    LIB = 10


class NetKind(enum.IntEnum):
    """``enum rtg_net_kind``."""

    CONNECT = 1
    ACCEPT = 2
    BIND = 3
    LISTEN = 4
    DUP_STDIO = 5  # ABI 3.3: dup/dup2/dup3 put an inet socket on fd 0, 1 or 2 (ret: that fd)


class FileKind(enum.IntEnum):
    """``enum rtg_file_kind``."""

    WRITE = 1
    RENAME = 2
    LINK = 3
    SYMLINK = 4
    UNLINK = 5
    CHMOD = 6


class ProcKind(enum.IntEnum):
    """``enum rtg_proc_kind``."""

    PTRACE = 1
    VM_WRITE = 2
    MEMFD = 3
    USERFAULTFD = 4
    MODULE = 5
    CRED = 6


class MountKind(enum.IntEnum):
    """``enum rtg_mount_kind``: the syscall behind a mount record."""

    MOUNT = 0
    FSOPEN = 1
    FSMOUNT = 2
    MOVE = 3
    OPEN_TREE = 4
    FSCONFIG = 5
    FSPICK = 6
    SETATTR = 7


class Flag(enum.IntFlag):
    """``enum rtg_flag``: bits of ``rtg_hdr.flags``."""

    ARGS_TRUNC = 1 << 0
    ARGS_FAULT = 1 << 1
    FILENAME_TRUNC = 1 << 2
    CGROUP_TRUNC = 1 << 3
    CGROUP_DEEP = 1 << 4
    CGROUP_DFL = 1 << 5
    NO_EXE = 1 << 6
    EXE_MEMFD = 1 << 7
    EXE_UPPER = 1 << 8
    ENV_TRUNC = 1 << 9
    PATH_TRUNC = 1 << 10
    DATA_TRUNC = 1 << 11


class Stdio(enum.IntFlag):
    """``enum rtg_stdio``: bits of ``rtg_exec.stdio``."""

    STDIN_SOCK = 1 << 0
    STDOUT_SOCK = 1 << 1
    STDERR_SOCK = 1 << 2


class StdioKind(enum.IntEnum):
    """``enum rtg_stdio_kind``: what fd 0/1/2 is at exec (4 bits each of ``rtg_exec.stdio_kinds``)."""

    STDIO_UNKNOWN = 0
    STDIO_FILE = 1
    STDIO_TTY = 2
    STDIO_CHAR = 3
    STDIO_PIPE = 4
    STDIO_INET = 5
    STDIO_UNIX = 6
    STDIO_SOCKET = 7
    STDIO_OTHER = 8


class Counter(enum.IntEnum):
    """``enum rtg_counter``: keys of the per-CPU ``rtg_counters`` map."""

    LOST_RINGBUF_FULL = 0
    EMITTED = 1
    WAKEUPS = 2
    LOST_PENDING_FULL = 3
    FILTERED = 4
    COALESCED = 5
    LOST_RINGBUF_BUSY = 6  # ABI 3.3: refused twice although the ring had room
    RETRIED = 7  # ABI 3.3: refused once although the ring had room; the retry took it


class RtgHdr(ctypes.Structure):
    """``struct rtg_hdr``."""

    _fields_ = (
        ("op", ctypes.c_uint8),
        ("abi_major", ctypes.c_uint8),
        ("flags", ctypes.c_uint16),
        ("size", ctypes.c_uint32),
        ("ktime", ctypes.c_uint64),
    )


class RtgExec(ctypes.Structure):
    """``struct rtg_exec``: the fixed part; the tail starts at ``sizeof(RtgExec)``."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("pid", ctypes.c_uint32),
        ("tid", ctypes.c_uint32),
        ("ppid", ctypes.c_uint32),
        ("ns_pid", ctypes.c_uint32),
        ("uid", ctypes.c_uint32),
        ("euid", ctypes.c_uint32),
        ("gid", ctypes.c_uint32),
        ("egid", ctypes.c_uint32),
        ("start_boottime", ctypes.c_uint64),
        ("parent_start_boottime", ctypes.c_uint64),
        ("cgroup_id", ctypes.c_uint64),
        ("mntns", ctypes.c_uint32),
        ("pidns", ctypes.c_uint32),
        ("exe_ino", ctypes.c_uint64),
        ("exe_mtime_ns", ctypes.c_int64),
        ("exe_dev", ctypes.c_uint32),
        ("args_size", ctypes.c_uint32),
        ("filename_len", ctypes.c_uint16),
        ("cgroup_len", ctypes.c_uint16),
        ("args_len", ctypes.c_uint16),
        ("cgroup_depth", ctypes.c_uint8),
        ("stdio", ctypes.c_uint8),
        ("comm", ctypes.c_char * COMM_LEN),
        ("cwd_len", ctypes.c_uint16),
        ("exe_len", ctypes.c_uint16),
        ("env_len", ctypes.c_uint16),
        ("stdio_kinds", ctypes.c_uint16),
        ("env_size", ctypes.c_uint32),
        ("_pad2", ctypes.c_uint32),
    )


class RtgFork(ctypes.Structure):
    """``struct rtg_fork``."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("parent_pid", ctypes.c_uint32),
        ("child_pid", ctypes.c_uint32),
        ("parent_start_boottime", ctypes.c_uint64),
        ("child_start_boottime", ctypes.c_uint64),
        ("child_ns_pid", ctypes.c_uint32),
        ("_pad0", ctypes.c_uint32),
    )


class RtgExit(ctypes.Structure):
    """``struct rtg_exit``."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("pid", ctypes.c_uint32),
        ("exit_code", ctypes.c_uint32),
        ("start_boottime", ctypes.c_uint64),
    )


class RtgTask(ctypes.Structure):
    """``struct rtg_task``: the acting task of every non-lifecycle record."""

    _fields_ = (
        ("pid", ctypes.c_uint32),
        ("tid", ctypes.c_uint32),
        ("start_boottime", ctypes.c_uint64),
    )


class RtgNet(ctypes.Structure):
    """``struct rtg_net``."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("task", RtgTask),
        ("ret", ctypes.c_int32),
        ("family", ctypes.c_uint16),
        ("kind", ctypes.c_uint8),
        ("protocol", ctypes.c_uint8),
        ("sock_type", ctypes.c_uint16),
        ("lport", ctypes.c_uint16),
        ("rport", ctypes.c_uint16),
        ("_pad0", ctypes.c_uint16),
        ("laddr", ctypes.c_char * 16),
        ("raddr", ctypes.c_char * 16),
    )


class RtgUnix(ctypes.Structure):
    """``struct rtg_unix``."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("task", RtgTask),
        ("ret", ctypes.c_int32),
        ("sock_type", ctypes.c_uint16),
        ("path_len", ctypes.c_uint16),
        ("path", ctypes.c_char * UNIX_PATH_MAX),
        ("_pad0", ctypes.c_uint32),
    )


class RtgDns(ctypes.Structure):
    """``struct rtg_dns``: the message follows (``data_len`` bytes)."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("task", RtgTask),
        ("family", ctypes.c_uint16),
        ("direction", ctypes.c_uint8),
        ("protocol", ctypes.c_uint8),
        ("lport", ctypes.c_uint16),
        ("rport", ctypes.c_uint16),
        ("raddr", ctypes.c_char * 16),
        ("data_len", ctypes.c_uint16),
        ("_pad0", ctypes.c_uint16),
        ("msg_size", ctypes.c_uint32),
    )


class RtgFile(ctypes.Structure):
    """``struct rtg_file``: ``path`` then ``path2`` follow."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("task", RtgTask),
        ("ret", ctypes.c_int32),
        ("kind", ctypes.c_uint8),
        ("_pad0", ctypes.c_uint8),
        ("path_len", ctypes.c_uint16),
        ("flags", ctypes.c_uint32),
        ("mode", ctypes.c_uint32),
        ("path2_len", ctypes.c_uint16),
        ("_pad1", ctypes.c_uint16),
        ("_pad2", ctypes.c_uint32),
    )


class RtgProcOp(ctypes.Structure):
    """``struct rtg_proc_op``: a string follows (``str_len`` bytes)."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("task", RtgTask),
        ("ret", ctypes.c_int32),
        ("kind", ctypes.c_uint8),
        ("_pad0", ctypes.c_uint8),
        ("str_len", ctypes.c_uint16),
        ("arg0", ctypes.c_int64),
        ("arg1", ctypes.c_int64),
        ("target_pid", ctypes.c_uint32),
        ("old_uid", ctypes.c_uint32),
        ("old_euid", ctypes.c_uint32),
        ("new_uid", ctypes.c_uint32),
        ("new_euid", ctypes.c_uint32),
        ("new_gid", ctypes.c_uint32),
        ("new_egid", ctypes.c_uint32),
        ("_pad1", ctypes.c_uint32),
    )


class RtgMount(ctypes.Structure):
    """``struct rtg_mount``: source, target and fstype follow."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("task", RtgTask),
        ("ret", ctypes.c_int32),
        ("source_len", ctypes.c_uint16),
        ("target_len", ctypes.c_uint16),
        ("flags", ctypes.c_uint64),
        ("fstype_len", ctypes.c_uint16),
        ("kind", ctypes.c_uint16),
        ("_pad1", ctypes.c_uint32),
    )


class RtgLib(ctypes.Structure):
    """``struct rtg_lib``: the path follows (``path_len`` bytes)."""

    _fields_ = (
        ("hdr", RtgHdr),
        ("task", RtgTask),
        ("cgroup_id", ctypes.c_uint64),
        ("ino", ctypes.c_uint64),
        ("mtime_ns", ctypes.c_int64),
        ("dev", ctypes.c_uint32),
        ("prot", ctypes.c_uint32),
        ("mmap_flags", ctypes.c_uint32),
        ("path_len", ctypes.c_uint16),
        ("_pad0", ctypes.c_uint16),
    )


class RtgConfig(ctypes.Structure):
    """``struct rtg_config``: the knobs in ``.rodata`` (global ``rtg_cfg``)."""

    _fields_ = (
        ("ignore_tgid", ctypes.c_uint32),
        ("max_args_bytes", ctypes.c_uint32),
        ("wakeup_bytes", ctypes.c_uint64),
        ("max_env_bytes", ctypes.c_uint32),
        ("prefix_count", ctypes.c_uint32),
        ("prefix_len", ctypes.c_char * PREFIX_SLOTS),
        ("prefixes", ctypes.c_char * (PREFIX_SLOTS * PREFIX_LEN)),
    )


# C name → mirror, for the layout test and for documentation.
STRUCTS: Final[dict[str, type[ctypes.Structure]]] = {
    "rtg_hdr": RtgHdr,
    "rtg_exec": RtgExec,
    "rtg_fork": RtgFork,
    "rtg_exit": RtgExit,
    "rtg_task": RtgTask,
    "rtg_net": RtgNet,
    "rtg_unix": RtgUnix,
    "rtg_dns": RtgDns,
    "rtg_file": RtgFile,
    "rtg_proc_op": RtgProcOp,
    "rtg_mount": RtgMount,
    "rtg_lib": RtgLib,
    "rtg_config": RtgConfig,
}

_CODES: Final[dict[type, str]] = {
    ctypes.c_uint8: "B",
    ctypes.c_uint16: "H",
    ctypes.c_uint32: "I",
    ctypes.c_uint64: "Q",
    ctypes.c_int32: "i",
    ctypes.c_int64: "q",
}


def flat_fields(cls: type[ctypes.Structure], prefix: str = "", base: int = 0) -> list[tuple[str, int, type]]:
    """List the leaf fields of a mirror with nested structs flattened (``"hdr.op"``).

    Returns:
        ``(dotted name, offset from the start of the outer struct, ctypes type)`` in order.
    """
    out: list[tuple[str, int, type]] = []
    for spec in cls._fields_:
        name, ctype = spec[0], spec[1]
        off = base + int(getattr(cls, name).offset)
        if isinstance(ctype, type) and issubclass(ctype, ctypes.Structure):
            out.extend(flat_fields(ctype, f"{prefix}{name}.", off))
        else:
            out.append((f"{prefix}{name}", off, ctype))
    return out


def struct_format(cls: type[ctypes.Structure]) -> str:
    """Return a little-endian ``struct`` format that unpacks ``cls`` in flat field order.

    Padding between fields and at the end becomes ``x`` so that ``struct.calcsize`` equals
    ``ctypes.sizeof(cls)``; ``char[N]`` becomes ``Ns``.
    """
    parts = ["<"]
    pos = 0
    for _name, off, ctype in flat_fields(cls):
        if off > pos:
            parts.append(f"{off - pos}x")
        if issubclass(ctype, ctypes.Array):
            parts.append(f"{ctype._length_}s")
        else:
            parts.append(_CODES[ctype])
        pos = off + ctypes.sizeof(ctype)
    end = ctypes.sizeof(cls)
    if end > pos:
        parts.append(f"{end - pos}x")
    return "".join(parts)
