"""The pure DNS parser: queries, answers, TCP prefixes, compression, and hostile bytes."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.agent.sensors.dns import parse_message


def _qname(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def query(name: str, txid: int = 7, qtype: int = 1) -> bytes:
    return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + _qname(name) + struct.pack("!HH", qtype, 1)


def answer(name: str, ips: list[bytes], txid: int = 7, rcode: int = 0) -> bytes:
    head = struct.pack("!HHHHHH", txid, 0x8180 | rcode, 1, len(ips), 0, 0)
    body = _qname(name) + struct.pack("!HH", 1, 1)
    for ip in ips:  # name as a pointer to the question (offset 12)
        body += struct.pack("!HHHIH", 0xC00C, 1 if len(ip) == 4 else 28, 1, 60, len(ip)) + ip
    return head + body


def test_query_and_answer() -> None:
    q = parse_message(query("C2.Mal.Test"))
    assert q is not None and (q.name, q.qtype, q.is_response, q.rcode) == ("c2.mal.test", "A", False, "")
    a = parse_message(answer("c2.mal.test", [bytes([10, 9, 9, 9]), bytes(15) + b"\1"]))
    assert a is not None and a.is_response and a.rcode == "NOERROR"
    assert a.answers == ("10.9.9.9", "::1")


def test_nxdomain_and_tcp_prefix() -> None:
    msg = answer("gone.nx.test", [], rcode=3)
    got = parse_message(struct.pack("!H", len(msg)) + msg, tcp=True)
    assert got is not None and got.rcode == "NXDOMAIN" and got.name == "gone.nx.test"
    assert parse_message(struct.pack("!H", 40), tcp=True) is None  # the prefix alone


def test_pointer_loops_and_garbage_are_rejected() -> None:
    loop = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c"
    assert parse_message(loop) is None
    assert parse_message(b"\x00" * 5) is None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_never_raises(data: bytes, tcp: bool) -> None:
    parse_message(data, tcp=tcp)
