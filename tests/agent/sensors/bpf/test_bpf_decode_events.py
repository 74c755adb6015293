"""Decoder tests for the runtime-event records (net, unix, DNS, file, process ops, mount).

Records are built from the ctypes mirror exactly as the kernel lays them out; no root.
"""

from __future__ import annotations

import ctypes
import socket
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.agent.sensors.bpf import abi
from rtguard.agent.sensors.bpf.decode import DecodeError, DecodeErrorKind, decode, env_loader_vars
from rtguard.agent.sensors.records import (
    DnsRecord,
    FileRecord,
    LibraryRecord,
    MountRecord,
    NetRecord,
    ProcOpRecord,
    UnixConnectRecord,
)

TASK = abi.RtgTask(pid=10, tid=11, start_boottime=5)


def _put(rec: ctypes.Structure, name: str, value: bytes) -> None:
    """Set a char-array field byte for byte (ctypes stops a bytes assignment at a NUL)."""
    ctypes.memmove(ctypes.addressof(rec) + getattr(type(rec), name).offset, value, len(value))


def _raw(op: abi.Op, rec: ctypes.Structure, tail: bytes = b"", flags: int = 0) -> bytes:
    rec.hdr = abi.RtgHdr(
        op=op, abi_major=abi.ABI_MAJOR, flags=flags, size=ctypes.sizeof(rec) + len(tail), ktime=9
    )
    rec.task = TASK
    return bytes(rec) + tail


def test_net_connect_ipv4_and_accept_ipv6() -> None:
    r = abi.RtgNet(
        ret=-115, family=2, kind=abi.NetKind.CONNECT, protocol=6, sock_type=1, lport=40000, rport=443
    )
    _put(r, "laddr", socket.inet_aton("10.0.0.2"))
    _put(r, "raddr", socket.inet_aton("203.0.113.7"))
    assert decode(_raw(abi.Op.NET, r)) == NetRecord(
        ktime=9, pid=10, tid=11, start_boottime=5, kind="connect", result=-115, family=2, protocol=6,
        sock_type=1, local_ip="10.0.0.2", local_port=40000, remote_ip="203.0.113.7", remote_port=443,
    )  # fmt: skip
    a = abi.RtgNet(ret=4, family=10, kind=abi.NetKind.ACCEPT, protocol=6, lport=22, rport=5555)
    _put(a, "laddr", socket.inet_pton(socket.AF_INET6, "2001:db8::1"))
    _put(a, "raddr", socket.inet_pton(socket.AF_INET6, "2001:db8::2"))
    got = decode(_raw(abi.Op.NET, a))
    assert isinstance(got, NetRecord)
    assert (got.kind, got.local_ip, got.remote_ip, got.remote_port) == (
        "accept",
        "2001:db8::1",
        "2001:db8::2",
        5555,
    )


def test_bind_has_no_remote_and_unknown_kind_is_an_error() -> None:
    b = abi.RtgNet(family=2, kind=abi.NetKind.BIND, lport=8080)
    got = decode(_raw(abi.Op.NET, b))
    assert isinstance(got, NetRecord) and got.remote_ip == "" and got.local_port == 8080
    bad = decode(_raw(abi.Op.NET, abi.RtgNet(kind=99)))
    assert isinstance(bad, DecodeError) and bad.kind is DecodeErrorKind.BAD_TAIL


def test_unix_paths_and_abstract_names() -> None:
    u = abi.RtgUnix(ret=0, sock_type=1, path_len=21, path=b"/var/run/docker.sock")
    assert decode(_raw(abi.Op.UNIX, u)) == UnixConnectRecord(
        ktime=9, pid=10, tid=11, start_boottime=5, path="/var/run/docker.sock", result=0, sock_type=1
    )
    ab = abi.RtgUnix(path_len=5)
    ctypes.memmove(ctypes.addressof(ab) + abi.RtgUnix.path.offset, b"\0abcd", 5)
    got = decode(_raw(abi.Op.UNIX, ab))
    assert isinstance(got, UnixConnectRecord) and got.path == "@abcd"


def test_dns_message_tail_and_truncation() -> None:
    msg = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01"
    d = abi.RtgDns(
        family=2, direction=0, protocol=17, lport=5353, rport=53, data_len=len(msg), msg_size=len(msg)
    )
    _put(d, "raddr", socket.inet_aton("127.0.0.53"))
    got = decode(_raw(abi.Op.DNS, d, msg))
    assert got == DnsRecord(
        ktime=9, pid=10, tid=11, start_boottime=5, outgoing=True, protocol="UDP", server_ip="127.0.0.53",
        server_port=53, local_port=5353, message=msg, truncated=False,
    )  # fmt: skip
    cut = abi.RtgDns(family=2, direction=1, protocol=6, data_len=4, msg_size=900)
    got2 = decode(_raw(abi.Op.DNS, cut, b"abcd", flags=abi.Flag.DATA_TRUNC))
    assert isinstance(got2, DnsRecord) and got2.truncated and not got2.outgoing and got2.protocol == "TCP"
    wrong = decode(_raw(abi.Op.DNS, abi.RtgDns(data_len=10), b"abc"))
    assert isinstance(wrong, DecodeError) and wrong.kind is DecodeErrorKind.BAD_TAIL


def test_file_records_with_two_paths() -> None:
    tail = b"/etc/a\0/etc/b\0"
    f = abi.RtgFile(ret=0, kind=abi.FileKind.RENAME, path_len=7, path2_len=7)
    assert decode(_raw(abi.Op.FILE, f, tail)) == FileRecord(
        ktime=9, pid=10, tid=11, start_boottime=5, kind="rename", path="/etc/a", path2="/etc/b"
    )
    w = abi.RtgFile(ret=3, kind=abi.FileKind.WRITE, path_len=12, flags=0o1101, mode=0o644)
    got = decode(_raw(abi.Op.FILE, w, b"/etc/passwd\0", flags=abi.Flag.PATH_TRUNC))
    assert isinstance(got, FileRecord) and got.flags == 0o1101 and got.truncated and got.path2 == ""
    bad = decode(_raw(abi.Op.FILE, abi.RtgFile(kind=1, path_len=50), b"/x\0"))
    assert isinstance(bad, DecodeError) and bad.kind is DecodeErrorKind.BAD_TAIL


def test_proc_ops_memfd_and_cred() -> None:
    m = abi.RtgProcOp(kind=abi.ProcKind.MEMFD, arg0=1, str_len=6)
    got = decode(_raw(abi.Op.PROC, m, b"evil!\0"))
    assert isinstance(got, ProcOpRecord) and (got.kind, got.text, got.arg0) == ("memfd", "evil!", 1)
    c = abi.RtgProcOp(kind=abi.ProcKind.CRED, arg0=105, old_uid=0, old_euid=0, new_uid=1000, new_euid=1000)
    got = decode(_raw(abi.Op.PROC, c))
    assert isinstance(got, ProcOpRecord) and (got.syscall, got.new_uid) == ("setuid", 1000)
    p = abi.RtgProcOp(kind=abi.ProcKind.PTRACE, arg0=16, target_pid=77)
    got = decode(_raw(abi.Op.PROC, p))
    assert isinstance(got, ProcOpRecord) and (got.kind, got.target_pid, got.syscall) == ("ptrace", 77, "")


def test_module_record_params_then_path() -> None:
    tail = b"p=1\0/tmp/rtg.ko\0"
    m = abi.RtgProcOp(ret=-38, kind=abi.ProcKind.MODULE, arg0=3, str_len=len(tail))
    got = decode(_raw(abi.Op.PROC, m, tail))
    assert isinstance(got, ProcOpRecord)
    assert (got.kind, got.result, got.text, got.path, got.arg0) == ("module", -38, "p=1", "/tmp/rtg.ko", 3)
    init = abi.RtgProcOp(kind=abi.ProcKind.MODULE, arg0=-1, str_len=2)
    got = decode(_raw(abi.Op.PROC, init, b"x\0"))
    assert isinstance(got, ProcOpRecord) and (got.text, got.path) == ("x", "")
    mem = decode(_raw(abi.Op.PROC, abi.RtgProcOp(kind=abi.ProcKind.MEMFD, str_len=4), b"a\0b\0"))
    assert isinstance(mem, ProcOpRecord) and (mem.text, mem.path) == ("a", "")


def test_mount_strings_and_failure() -> None:
    tail = b"/dev/sda1\0/mnt\0ext4\0"
    r = abi.RtgMount(ret=-1, source_len=10, target_len=5, fstype_len=5, flags=1)
    assert decode(_raw(abi.Op.MOUNT, r, tail)) == MountRecord(
        ktime=9,
        pid=10,
        tid=11,
        start_boottime=5,
        source="/dev/sda1",
        target="/mnt",
        fstype="ext4",
        flags=1,
        result=-1,
    )


def test_env_keeps_only_loader_variables() -> None:
    area = b"SECRET=hunter2\0LD_PRELOAD=/tmp/a.so\0LD_LIBRARY_PATH=/opt\0LD_PRELOADX=no\0"
    assert env_loader_vars(area) == ("/tmp/a.so", "/opt", True)
    assert env_loader_vars(b"") == ("", "", False)


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from([int(o) for o in abi.Op]), body=st.binary(max_size=400))
def test_fuzzed_records_never_raise(op: int, body: bytes) -> None:
    raw = struct.pack("<BBHIQ", op, abi.ABI_MAJOR, 0, 16 + len(body), 1) + body
    decode(raw)


# A real record, captured from the kernel (ctypes.CDLL of a copy of libm written to /tmp in a runc container).
LIB_CAPTURED = bytes.fromhex(
    "0a020000520000000e5bd9f376080000cf6e0000cf6e0000b05ff8f0760800000a41000000000000"
    "0900000000000000e263e05f8548ec183500000005000000120800000a0000002f746d702f6d2e736f00"
)


def test_library_record_captured_and_built() -> None:
    # captured under ABI 2.x; 3.0.0 changed only the configuration knobs, not this record, so
    # the header's major byte is brought up to date
    got = decode(LIB_CAPTURED[:1] + bytes([abi.ABI_MAJOR]) + LIB_CAPTURED[2:])
    assert isinstance(got, LibraryRecord)
    assert (got.pid, got.tid, got.path, got.ino, got.dev, got.prot) == (28367, 28367, "/tmp/m.so", 9, 53, 5)
    assert got.mmap_flags & 0x10  # MAP_FIXED: ld.so maps the text over its first mapping
    assert got.cgroup_id == 0x410A and not got.truncated
    r = abi.RtgLib(cgroup_id=7, ino=12, mtime_ns=3, dev=(8 << 20) | 1, prot=5, mmap_flags=0x812, path_len=8)
    assert decode(_raw(abi.Op.LIB, r, b"/tmp/x\0\0"[:8], flags=abi.Flag.PATH_TRUNC)) == LibraryRecord(
        ktime=9, pid=10, tid=11, start_boottime=5, path="/tmp/x", cgroup_id=7, dev=0x801, ino=12, mtime=3,
        prot=5, mmap_flags=0x812, truncated=True,
    )  # fmt: skip
    bad = decode(_raw(abi.Op.LIB, abi.RtgLib(path_len=20), b"/tmp/x\0"))
    assert isinstance(bad, DecodeError) and bad.kind is DecodeErrorKind.BAD_TAIL
