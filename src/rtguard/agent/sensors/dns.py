"""Pure parsing of DNS messages (RFC 1035) as the sensors capture them, UDP or TCP.

``parse_message(data, tcp=...)`` returns the transaction id, whether it is a response, the
rcode, the first question (name and type) and the answers as text (addresses, names, or
``TYPE<n>`` for types it does not spell out), or ``None`` for bytes that are not a DNS message.
A TCP message may start with its 2-byte length prefix, which is stripped. Pure: no I/O, no
sockets, never raises; every length and compression pointer is bounds-checked, and pointer
loops are cut. It must NOT resolve anything or keep state.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final

__all__ = ["QTYPES", "RCODES", "DnsMessage", "parse_message"]

QTYPES: Final = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    65: "HTTPS",
    255: "ANY",
}
RCODES: Final = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
}
_HEADER: Final = struct.Struct("!HHHHHH")
_MAX_POINTERS: Final = 16
_MAX_ANSWERS: Final = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsMessage:
    """The parts of a DNS message that detections use."""

    txid: int
    is_response: bool
    rcode: str
    name: str
    qtype: str
    answers: tuple[str, ...] = ()


class _Bad(Exception):
    pass


def _name(data: bytes, pos: int) -> tuple[str, int]:
    """Read a (possibly compressed) name at ``pos``; return it and the position after it."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        if pos >= len(data):
            raise _Bad
        n = data[pos]
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(data) or jumps >= _MAX_POINTERS:
                raise _Bad
            if end < 0:
                end = pos + 2
            pos = ((n & 0x3F) << 8) | data[pos + 1]
            jumps += 1
            continue
        if n & 0xC0:
            raise _Bad
        pos += 1
        if n == 0:
            break
        if pos + n > len(data):
            raise _Bad
        labels.append(data[pos : pos + n].decode("ascii", "backslashreplace"))
        pos += n
    return ".".join(labels).lower(), (end if end >= 0 else pos)


def _rdata(data: bytes, rtype: int, start: int, length: int) -> str:
    raw = data[start : start + length]
    if rtype == 1 and length == 4:
        return str(ipaddress.IPv4Address(raw))
    if rtype == 28 and length == 16:
        return str(ipaddress.IPv6Address(raw))
    if rtype in (2, 5, 12):
        return _name(data, start)[0]
    return f"TYPE{rtype}"


def _parse(data: bytes) -> DnsMessage:
    if len(data) < _HEADER.size:
        raise _Bad
    txid, flags, qd, an, _ns, _ar = _HEADER.unpack_from(data)
    if qd < 1 or flags & 0x7800:  # opcode must be QUERY
        raise _Bad
    name, pos = _name(data, _HEADER.size)
    if pos + 4 > len(data):
        raise _Bad
    qtype_num = struct.unpack_from("!H", data, pos)[0]
    pos += 4
    for _ in range(qd - 1):
        pos = _name(data, pos)[1] + 4
    answers: list[str] = []
    for _ in range(min(an, _MAX_ANSWERS)):
        _rname, pos = _name(data, pos)
        if pos + 10 > len(data):
            break
        rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", data, pos)
        pos += 10
        if pos + rdlen > len(data):
            break
        answers.append(_rdata(data, rtype, pos, rdlen))
        pos += rdlen
    is_response = bool(flags & 0x8000)
    return DnsMessage(
        txid=txid,
        is_response=is_response,
        rcode=RCODES.get(flags & 0xF, str(flags & 0xF)) if is_response else "",
        name=name,
        qtype=QTYPES.get(qtype_num, f"TYPE{qtype_num}"),
        answers=tuple(answers),
    )


def parse_message(data: bytes, *, tcp: bool = False) -> DnsMessage | None:
    """Parse one DNS message; ``None`` when the bytes are not one.

    Args:
        data: the message; a cut message still yields its question when that is complete.
        tcp: the bytes came from a TCP stream and may start with the 2-byte length prefix.
    """
    candidates = [data]
    if tcp and len(data) >= 2 and struct.unpack_from("!H", data)[0] in (len(data) - 2, len(data) - 2 + 0):
        candidates.insert(0, data[2:])
    elif tcp and len(data) > 2:
        candidates.append(data[2:])
    for candidate in candidates:
        try:
            return _parse(candidate)
        except (_Bad, struct.error, ValueError, UnicodeError):
            continue
    return None
