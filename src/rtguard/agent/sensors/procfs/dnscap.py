"""DNS capture without eBPF: an AF_PACKET socket with a classic BPF filter for port 53.

``parse_frame`` is pure (one Ethernet frame in, a ``DnsRecord`` or ``None`` out) and tested
without root; ``DnsCapture`` owns the packet socket of the agent's network namespace (all
interfaces; on ``lo`` every packet shows twice, so outgoing copies there are skipped). Packet
capture cannot name the process, so records carry pid 0 and the event's process is empty; the
host view also misses traffic that stays inside another network namespace. It must NOT send
anything, and must NOT parse DNS itself (``rtguard.agent.sensors.dns`` does).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from typing import Final

from rtguard.agent.sensors.records import DnsRecord, SensorUnavailable

__all__ = ["DNS_FILTER", "DnsCapture", "parse_frame"]

_ETH_P_ALL: Final = 0x0003
_SO_ATTACH_FILTER: Final = 26
_PACKET_OUTGOING: Final = 4
_ETH: Final = 14
_PORT: Final = 53


def _assemble() -> list[tuple[int, int, int, int]]:
    """``udp or tcp port 53`` over IPv4 (no fragments) and IPv6 (no extension headers)."""
    ld_h, ld_b, jeq, jset, ldx_msh, ld_h_ind, ret = 0x28, 0x30, 0x15, 0x45, 0xB1, 0x48, 0x06
    prog: list[tuple[str, int, str, str, int]] = [  # (label, code, jt, jf, k)
        ("", ld_h, "", "", 12),
        ("", jeq, "v6", "v4", 0x86DD),
        ("v6", ld_b, "", "", 20),
        ("", jeq, "v6p", "", 17),
        ("", jeq, "v6p", "drop", 6),
        ("v6p", ld_h, "", "", 54),
        ("", jeq, "ok", "", _PORT),
        ("", ld_h, "", "", 56),
        ("", jeq, "ok", "drop", _PORT),
        ("v4", jeq, "", "drop", 0x0800),
        ("", ld_b, "", "", 23),
        ("", jeq, "v4p", "", 17),
        ("", jeq, "v4p", "drop", 6),
        ("v4p", ld_h, "", "", 20),
        ("", jset, "drop", "", 0x1FFF),
        ("", ldx_msh, "", "", 14),
        ("", ld_h_ind, "", "", 14),
        ("", jeq, "ok", "", _PORT),
        ("", ld_h_ind, "", "", 16),
        ("", jeq, "ok", "drop", _PORT),
        ("ok", ret, "", "", 0x40000),
        ("drop", ret, "", "", 0),
    ]
    where = {label: i for i, (label, *_rest) in enumerate(prog) if label}
    out = []
    for i, (_label, code, jt, jf, k) in enumerate(prog):
        t = where[jt] - i - 1 if jt else 0
        f = where[jf] - i - 1 if jf else 0
        out.append((code, t, f, k))
    return out


DNS_FILTER: Final = _assemble()


def _ip(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


def parse_frame(frame: bytes, *, ktime: int = 0) -> DnsRecord | None:
    """One Ethernet frame to a ``DnsRecord`` (pid 0), or ``None`` when it holds no DNS payload."""
    if len(frame) < _ETH + 20:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == 0x0800:
        ihl = (frame[_ETH] & 0xF) * 4
        proto, src, dst = frame[_ETH + 9], frame[_ETH + 12 : _ETH + 16], frame[_ETH + 16 : _ETH + 20]
        l4 = _ETH + ihl
    elif ethertype == 0x86DD and len(frame) >= _ETH + 40:
        proto, src, dst = frame[_ETH + 6], frame[_ETH + 8 : _ETH + 24], frame[_ETH + 24 : _ETH + 40]
        l4 = _ETH + 40
    else:
        return None
    if len(frame) < l4 + 8:
        return None
    sport, dport = struct.unpack_from("!HH", frame, l4)
    if proto == 17:
        payload, name = frame[l4 + 8 :], "UDP"
    elif proto == 6 and len(frame) >= l4 + 20:
        payload, name = frame[l4 + (frame[l4 + 12] >> 4) * 4 :], "TCP"
    else:
        return None
    if not payload or _PORT not in (sport, dport):
        return None
    outgoing = dport == _PORT
    return DnsRecord(
        ktime=ktime,
        outgoing=outgoing,
        protocol=name,
        server_ip=_ip(dst if outgoing else src),
        server_port=_PORT,
        local_port=sport if outgoing else dport,
        message=payload,
    )


class DnsCapture:
    """A packet socket on every interface of this network namespace. One thread uses it."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None

    def open(self) -> None:
        """Open and filter the socket; raises ``SensorUnavailable`` without CAP_NET_RAW."""
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        except (OSError, AttributeError) as exc:
            raise SensorUnavailable(
                f"DNS capture: cannot open a packet socket ({exc}): needs CAP_NET_RAW"
            ) from exc
        import ctypes

        insns = (ctypes.c_uint8 * (8 * len(DNS_FILTER)))()
        for i, (code, jt, jf, k) in enumerate(DNS_FILTER):
            struct.pack_into("=HBBI", insns, 8 * i, code, jt, jf, k)
        prog = struct.pack("@HP", len(DNS_FILTER), ctypes.addressof(insns))
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, prog)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise SensorUnavailable(f"DNS capture: cannot attach the port-53 filter ({exc})") from exc
        self._insns = insns  # the kernel copied it; kept for clarity of ownership
        self._sock = sock

    def fileno(self) -> int:
        """The socket's fd (for select); -1 when closed."""
        return self._sock.fileno() if self._sock is not None else -1

    def drain(self, limit: int) -> list[DnsRecord]:
        """Read up to ``limit`` frames without blocking."""
        out: list[DnsRecord] = []
        if self._sock is None:
            return out
        for _ in range(limit):
            try:
                frame, addr = self._sock.recvfrom(65535)
            except BlockingIOError:
                break
            if addr[0] == "lo" and addr[2] == _PACKET_OUTGOING:
                continue
            rec = parse_frame(frame, ktime=time.clock_gettime_ns(time.CLOCK_MONOTONIC))
            if rec is not None:
                out.append(rec)
        return out

    def close(self) -> None:
        """Close the socket; safe to call twice."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
