"""Decoder tests: hand-built raw records (golden) and fuzzing; no kernel, no root."""

from __future__ import annotations

import ctypes
import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.agent.sensors.bpf import abi
from rtguard.agent.sensors.bpf.decode import (
    DECODERS,
    DecodeError,
    DecodeErrorKind,
    cgroup_path,
    decode,
    split_args,
    user_dev,
)
from rtguard.agent.sensors.records import ExecRecord, ExitRecord, ForkRecord

HEX64 = "0123456789abcdef" * 4
EXEC_FIXED = ctypes.sizeof(abi.RtgExec)


def exec_raw(
    *,
    filename: bytes = b"/bin/echo\0",
    cgroup_leaf_first: tuple[bytes, ...] = (),
    args: bytes = b"/bin/echo\0hello\0world\0",
    cwd: bytes = b"/root\0",
    exe: bytes = b"/usr/bin/echo\0",
    env: bytes = b"PATH=/bin\0LD_PRELOAD=/tmp/x.so\0HOME=/root\0",
    flags: int = 0,
    abi_major: int = abi.ABI_MAJOR,
    size: int | None = None,
    depth: int | None = None,
    **fields: int | bytes,
) -> bytes:
    """Build an exec record as the kernel would, from keyword fields with defaults."""
    cg = b"".join(n + b"\0" for n in cgroup_leaf_first)
    rec = abi.RtgExec(
        pid=1234,
        tid=1234,
        ppid=1000,
        ns_pid=1,
        uid=1,
        euid=2,
        gid=3,
        egid=4,
        start_boottime=5_000_000_000,
        parent_start_boottime=4_000_000_000,
        cgroup_id=77,
        mntns=4026531840,
        pidns=4026531836,
        exe_ino=260249,
        exe_mtime_ns=1663687647_123456789,
        exe_dev=(254 << 20) | 1,
        args_size=len(args),
        filename_len=len(filename),
        cgroup_len=len(cg),
        args_len=len(args),
        cgroup_depth=len(cgroup_leaf_first) if depth is None else depth,
        comm=b"echo",
        cwd_len=len(cwd),
        exe_len=len(exe),
        env_len=len(env),
        env_size=len(env),
        stdio=0b101,
        stdio_kinds=abi.StdioKind.STDIO_INET | abi.StdioKind.STDIO_PIPE << 4 | abi.StdioKind.STDIO_UNIX << 8,
    )
    for key, value in fields.items():
        setattr(rec, key, value)
    body = bytes(rec)[ctypes.sizeof(abi.RtgHdr) :] + filename + cg + args + cwd + exe + env
    total = ctypes.sizeof(abi.RtgHdr) + len(body)
    hdr = abi.RtgHdr(op=abi.Op.EXEC, abi_major=abi_major, flags=flags, size=total if size is None else size)
    hdr.ktime = 42
    return bytes(hdr) + body


def test_exec_golden() -> None:
    raw = exec_raw(cgroup_leaf_first=(HEX64.encode(), b"5f1d3e0a", b"ecs"))
    assert len(raw) == EXEC_FIXED + 10 + (65 + 9 + 4) + 22 + 6 + 14 + 42
    assert decode(raw) == ExecRecord(
        ktime=42,
        pid=1234,
        tid=1234,
        ppid=1000,
        ns_pid=1,
        uid=1,
        euid=2,
        gid=3,
        egid=4,
        start_boottime=5_000_000_000,
        parent_start_boottime=4_000_000_000,
        comm="echo",
        filename="/bin/echo",
        argv=("/bin/echo", "hello", "world"),
        argv_truncated=False,
        cgroup_id=77,
        cgroup_path=f"/ecs/5f1d3e0a/{HEX64}",
        mntns=4026531840,
        pidns=4026531836,
        exe_dev=os.makedev(254, 1),
        exe_ino=260249,
        exe_mtime=1663687647_123456789,
        cwd="/root",
        exe_path="/usr/bin/echo",
        env_seen=True,
        ld_preload="/tmp/x.so",
        ld_library_path="",
        stdio_sockets=(True, False, True),
        stdio_types=("inet", "pipe", "unix"),
    )


def test_stdio_kinds_names_follow_the_header_enum() -> None:
    """Each rtg_stdio_kind decodes to its name; 0 (a 3.0 object) is unknown, undefined values "other"."""
    from rtguard.model.events import STDIO_TYPES

    assert [m.name.removeprefix("STDIO_").lower() for m in abi.StdioKind][1:] == list(STDIO_TYPES[1:])
    for kind in abi.StdioKind:
        rec = decode(exec_raw(stdio_kinds=kind | kind << 4 | kind << 8))
        assert isinstance(rec, ExecRecord)
        assert rec.stdio_types == (STDIO_TYPES[kind],) * 3
    rec = decode(exec_raw(stdio_kinds=0xF | 0x9 << 4))
    assert isinstance(rec, ExecRecord) and rec.stdio_types == ("other", "other", "")


def test_fork_golden_bytes() -> None:
    # Packed by hand from the header's field list, independently of abi.py.
    raw = struct.pack("<BBHIQIIQQII", 2, abi.ABI_MAJOR, 0, 48, 99, 10, 11, 1_000, 2_000, 7, 0)
    assert decode(raw) == ForkRecord(
        ktime=99,
        parent_pid=10,
        child_pid=11,
        parent_start_boottime=1_000,
        child_start_boottime=2_000,
        child_ns_pid=7,
    )


def test_exit_golden_bytes() -> None:
    raw = struct.pack("<BBHIQIIQ", 3, abi.ABI_MAJOR, 0, 32, 7, 55, 9 | 0x80, 3_000)
    assert decode(raw) == ExitRecord(ktime=7, pid=55, start_boottime=3_000, exit_code=0x89)


def test_exec_root_cgroup_is_slash() -> None:
    rec = decode(exec_raw())
    assert isinstance(rec, ExecRecord)
    assert rec.cgroup_path == "/"


def test_exec_deep_cgroup_is_marked() -> None:
    names = tuple(b"l%d" % i for i in range(abi.CGROUP_MAX_DEPTH))
    rec = decode(exec_raw(cgroup_leaf_first=names, flags=abi.Flag.CGROUP_DEEP))
    assert isinstance(rec, ExecRecord)
    assert rec.cgroup_path == "/.../l5/l4/l3/l2/l1/l0"


def test_exec_truncated_args_keep_partial_last_arg() -> None:
    rec = decode(exec_raw(args=b"/bin/echo\0aaaa\0bb", flags=abi.Flag.ARGS_TRUNC, args_size=5000))
    assert isinstance(rec, ExecRecord)
    assert rec.argv == ("/bin/echo", "aaaa", "bb")
    assert rec.argv_truncated


def test_exec_args_fault_is_truncated_and_empty() -> None:
    rec = decode(exec_raw(args=b"", flags=abi.Flag.ARGS_FAULT))
    assert isinstance(rec, ExecRecord)
    assert rec.argv == ()
    assert rec.argv_truncated


def test_exec_non_utf8_is_escaped_not_lost() -> None:
    rec = decode(exec_raw(filename=b"/tmp/\xff\0", args=b"x\0\xfe\0", comm=b"a\xffb"))
    assert isinstance(rec, ExecRecord)
    assert rec.filename == "/tmp/\\xff"
    assert rec.argv == ("x", "\\xfe")
    assert rec.comm == "a\\xffb"


def test_split_args_and_cgroup_path_helpers() -> None:
    assert split_args(b"") == ()
    assert split_args(b"\0") == ("",)
    assert split_args(b"a\0\0b\0") == ("a", "", "b")
    assert cgroup_path([]) == "/"
    assert cgroup_path([HEX64.encode(), b"docker"]) == f"/docker/{HEX64}"


@given(st.integers(0, 0xFFF), st.integers(0, 0xFFFFF))
def test_user_dev_matches_makedev(major: int, minor: int) -> None:
    assert user_dev((major << 20) | minor) == os.makedev(major, minor)


def _kind(raw: bytes) -> DecodeErrorKind:
    out = decode(raw)
    assert isinstance(out, DecodeError), out
    return out.kind


def test_malformed_records_are_typed_errors() -> None:
    good = exec_raw(cgroup_leaf_first=(b"docker",))
    assert _kind(b"") is DecodeErrorKind.TOO_SHORT
    assert _kind(good[:10]) is DecodeErrorKind.TOO_SHORT
    assert _kind(b"\x7f" + good[1:]) is DecodeErrorKind.UNKNOWN_OP
    assert _kind(exec_raw(abi_major=abi.ABI_MAJOR + 1)) is DecodeErrorKind.ABI_MISMATCH
    assert _kind(exec_raw(size=12345)) is DecodeErrorKind.BAD_SIZE
    assert _kind(exec_raw(args_len=3)) is DecodeErrorKind.BAD_TAIL
    assert _kind(exec_raw(cgroup_leaf_first=(b"a", b"b"), depth=1)) is DecodeErrorKind.BAD_TAIL
    assert _kind(exec_raw(depth=abi.CGROUP_MAX_DEPTH + 1)) is DecodeErrorKind.BAD_TAIL
    assert (
        _kind(struct.pack("<BBHIQIIQQII", 2, abi.ABI_MAJOR, 0, 56, 0, 1, 2, 3, 4, 5, 0) + bytes(8))
        is DecodeErrorKind.BAD_SIZE
    )
    short_exit = struct.pack("<BBHIQII", 3, abi.ABI_MAJOR, 0, 24, 0, 1, 2)
    assert _kind(short_exit) is DecodeErrorKind.BAD_SIZE
    err = decode(b"\x09" + good[1:])
    assert isinstance(err, DecodeError)
    assert (err.op, err.size) == (9, len(good))


def test_dispatch_table_covers_every_op() -> None:
    assert set(DECODERS) == set(abi.Op)


@settings(max_examples=1000)
@given(st.binary(max_size=600))
def test_any_bytes_decode_to_record_or_typed_error(raw: bytes) -> None:
    out = decode(raw)
    assert isinstance(out, ExecRecord | ForkRecord | ExitRecord | DecodeError)
    if isinstance(out, DecodeError):
        assert out.kind is not DecodeErrorKind.INTERNAL, out


@settings(max_examples=1000)
@given(op=st.sampled_from(list(abi.Op)), flags=st.integers(0, 0xFFFF), body=st.binary(max_size=700))
def test_plausible_headers_with_random_bodies_never_escape(op: abi.Op, flags: int, body: bytes) -> None:
    # Passes the header checks, so the per-op decoders see arbitrary bodies.
    size = ctypes.sizeof(abi.RtgHdr) + len(body)
    raw = struct.pack("<BBHIQ", op, abi.ABI_MAJOR, flags, size, 1) + body
    out = decode(raw)
    assert isinstance(out, ExecRecord | ForkRecord | ExitRecord | DecodeError)
    if isinstance(out, DecodeError):
        assert out.kind is not DecodeErrorKind.INTERNAL, out


_names = st.lists(st.binary(min_size=1, max_size=20).filter(lambda b: b"\0" not in b), max_size=6)
_args = st.lists(st.text(max_size=30).filter(lambda s: "\0" not in s), min_size=1, max_size=8)


@settings(max_examples=500)
@given(names=_names, args=_args, filename=st.text(max_size=60).filter(lambda s: "\0" not in s))
def test_well_formed_exec_round_trips(names: list[bytes], args: list[str], filename: str) -> None:
    raw = exec_raw(
        filename=filename.encode() + b"\0",
        cgroup_leaf_first=tuple(names),
        args=b"".join(a.encode() + b"\0" for a in args),
    )
    out = decode(raw)
    assert isinstance(out, ExecRecord), out
    assert out.filename == filename
    assert out.argv == tuple(args)
    assert out.cgroup_path == cgroup_path(list(names))
    assert not out.argv_truncated


def test_repeated_exec_strings_come_from_the_cache_and_stay_exact() -> None:
    """An exec's strings are cached by their raw bytes and lengths: a repeat decodes the same,
    and the same bytes split differently (exe path vs environment) decode differently."""
    from rtguard.agent.sensors.bpf import decode as mod

    first = decode(exec_raw(pid=10))
    again = decode(exec_raw(pid=11))
    assert isinstance(first, ExecRecord) and isinstance(again, ExecRecord)
    assert (again.pid, again.argv, again.exe_path, again.ld_preload) == (
        11,
        first.argv,
        first.exe_path,
        first.ld_preload,
    )
    # "/usr/bin/echo\0" + "X=1\0" as exe + env, then as a longer exe and a shorter env
    a = decode(exec_raw(exe=b"/usr/bin/echo\0", env=b"X=1\0"))
    b = decode(exec_raw(exe=b"/usr/bin/echo\0X=1", env=b"\0"))
    assert isinstance(a, ExecRecord) and isinstance(b, ExecRecord)
    assert a.exe_path == "/usr/bin/echo" and a.env_seen
    assert b.exe_path == "/usr/bin/echo" and b.env_seen  # the text stops at the first NUL
    c = decode(exec_raw(exe=b"/usr/bin/echo\0", env=b"LD_PRELOAD=/a.so\0"))
    d = decode(exec_raw(exe=b"/usr/bin/echo\0LD_PRELOAD=/a.so", env=b"\0"))
    assert isinstance(c, ExecRecord) and isinstance(d, ExecRecord)
    assert (c.ld_preload, d.ld_preload) == ("/a.so", "")
    # a malformed cgroup area is an error every time, never cached as good
    for _ in range(2):
        assert _kind(exec_raw(cgroup_leaf_first=(b"a",), depth=3)) is DecodeErrorKind.BAD_TAIL
    # bounded: many distinct execs never hold more than the limit
    for i in range(mod._EXEC_STRINGS_MAX + 10):
        decode(exec_raw(args=f"/bin/echo\0{i}\0".encode()))
    assert len(mod._EXEC_STRINGS) <= mod._EXEC_STRINGS_MAX
    assert mod._exec_strings_bytes <= mod._EXEC_STRINGS_MAX_BYTES
