"""Fallback sensors' pure parts: proc-connector messages and captured DNS frames (no root)."""

from __future__ import annotations

import socket
import struct

from rtguard.agent.sensors.procfs.connector import ExecPid, parse_proc_event
from rtguard.agent.sensors.procfs.dnscap import DNS_FILTER, parse_frame
from rtguard.agent.sensors.records import DnsRecord, ExitRecord, ForkRecord


def _cn(what: int, body: bytes) -> bytes:
    event = struct.pack("=IIQ", what, 0, 123) + body
    cn = struct.pack("=IIIIHH", 1, 1, 0, 0, len(event), 0) + event
    return struct.pack("=IHHII", 16 + len(cn), 3, 0, 0, 0) + cn


def test_connector_fork_exec_exit_and_threads() -> None:
    assert parse_proc_event(_cn(1, struct.pack("=IIII", 5, 5, 9, 9))) == ForkRecord(
        ktime=123, parent_pid=5, child_pid=9
    )
    assert parse_proc_event(_cn(1, struct.pack("=IIII", 5, 5, 10, 9))) is None  # a new thread
    assert parse_proc_event(_cn(2, struct.pack("=II", 9, 9))) == ExecPid(pid=9, ktime=123)
    assert parse_proc_event(_cn(0x80000000, struct.pack("=IIII", 9, 9, 256, 17))) == ExitRecord(
        ktime=123, pid=9, exit_code=256
    )
    assert parse_proc_event(_cn(0x80000000, struct.pack("=IIII", 10, 9, 0, 17))) is None
    assert parse_proc_event(b"short") is None


def _udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    eth = bytes(12) + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return eth + ip + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def test_dns_frames_query_and_answer() -> None:
    q = parse_frame(_udp_frame("10.0.0.2", "10.0.0.1", 40000, 53, b"QUERY"))
    assert q == DnsRecord(
        outgoing=True, protocol="UDP", server_ip="10.0.0.1", local_port=40000, message=b"QUERY"
    )
    a = parse_frame(_udp_frame("10.0.0.1", "10.0.0.2", 53, 40000, b"ANS"))
    assert isinstance(a, DnsRecord) and not a.outgoing and a.server_ip == "10.0.0.1"
    assert parse_frame(_udp_frame("10.0.0.1", "10.0.0.2", 80, 40000, b"x")) is None


def test_classic_bpf_filter_jumps_stay_inside() -> None:
    for i, (code, jt, jf, _k) in enumerate(DNS_FILTER):
        if code & 0x7 == 0x5:  # a jump
            assert i + 1 + jt < len(DNS_FILTER) and i + 1 + jf < len(DNS_FILTER)
    assert DNS_FILTER[-1] == (0x06, 0, 0, 0) and DNS_FILTER[-2][0] == 0x06
