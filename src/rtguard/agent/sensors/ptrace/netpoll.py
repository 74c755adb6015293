"""Network connections without eBPF: the task's ``/proc/<pid>/net/{tcp,tcp6,udp,udp6}`` tables.

``parse_table`` is pure (one table's text in, sockets out). ``NetPoller.poll`` reads the tables
of every network namespace the traced processes live in (one reader pid per namespace),
reports sockets it has not seen before as ``NetRecord``s (``listen`` for a TCP listener,
``accept`` for an established TCP socket on a listening port, ``connect`` for other established
or connecting TCP sockets and for connected UDP sockets, ``bind`` for bound unconnected UDP),
and names the process by finding the socket inode among the traced processes' descriptors.
What it cannot see, by construction: a socket opened and closed between two polls, a
connection whose process exited before the poll (counted as ``net_unattributed``), and the
moment of the connect (``ktime`` is the poll's). The first poll is the baseline: sockets that
existed before the agent are not reported. It must NOT open sockets and must NOT enrich.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from rtguard.agent.sensors.ptrace.procread import read_file
from rtguard.agent.sensors.records import NetRecord

__all__ = ["NetPoller", "Sock", "parse_table"]

_TABLES: Final = (("tcp", 6, 2), ("tcp6", 6, 10), ("udp", 17, 2), ("udp6", 17, 10))
_ESTABLISHED: Final = 0x01
_SYN_SENT: Final = 0x02
_LISTEN: Final = 0x0A
_MAX_SEEN: Final = 65_536


@dataclass(frozen=True, slots=True)
class Sock:
    """One row of a ``/proc/net`` socket table."""

    protocol: int
    family: int
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    state: int
    inode: int


def _addr(text: str, family: int) -> tuple[str, int]:
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.IPv4Address(words) if family == 2 else ipaddress.IPv6Address(words)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped), int(port, 16)
    return str(ip), int(port, 16)


def parse_table(text: str, protocol: int, family: int) -> list[Sock]:
    """Parse one ``/proc/net/{tcp,tcp6,udp,udp6}`` table; malformed rows are skipped."""
    out: list[Sock] = []
    for line in text.split("\n")[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            local_ip, local_port = _addr(fields[1], family)
            remote_ip, remote_port = _addr(fields[2], family)
            out.append(
                Sock(
                    protocol=protocol,
                    family=family,
                    local_ip=local_ip,
                    local_port=local_port,
                    remote_ip=remote_ip,
                    remote_port=remote_port,
                    state=int(fields[3], 16),
                    inode=int(fields[9]),
                )
            )
        except ValueError:
            continue
    return out


def classify(sock: Sock, listening: set[int]) -> str:
    """The record kind for a new socket (``""``: nothing to report)."""
    if sock.protocol == 6:
        if sock.state == _LISTEN:
            return "listen"
        if sock.state in (_ESTABLISHED, _SYN_SENT):
            return "accept" if sock.local_port in listening and sock.state == _ESTABLISHED else "connect"
        return ""
    if sock.remote_port:
        return "connect"
    return "bind" if sock.local_port else ""


class NetPoller:
    """Polls the socket tables of the traced processes' namespaces. One thread uses it."""

    def __init__(self, proc_root: str = "/proc") -> None:
        self._proc = proc_root
        self._seen: dict[int, set[int]] = {}  # netns inode → socket inodes already reported
        self.counters: Counter[str] = Counter()

    def _namespaces(self, pids: Iterable[int]) -> dict[int, list[int]]:
        by_ns: dict[int, list[int]] = {}
        for pid in pids:
            with contextlib.suppress(OSError):
                by_ns.setdefault(os.stat(f"{self._proc}/{pid}/ns/net").st_ino, []).append(pid)
        return by_ns

    def _owners(self, pids: list[int] | list[str], wanted: set[int]) -> dict[int, int]:
        owners: dict[int, int] = {}
        for pid in pids:
            base = f"{self._proc}/{pid}/fd"
            try:
                fds = os.listdir(base)
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink(f"{base}/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inode = int(link[8:-1])
                    if inode in wanted:
                        owners.setdefault(inode, pid if isinstance(pid, int) else -1)
            if len(owners) == len(wanted):
                break
        return owners

    def poll(self, pids: Iterable[int]) -> list[NetRecord]:
        """New sockets of the namespaces of ``pids`` since the last poll, as records."""
        out: list[NetRecord] = []
        for ns, members in self._namespaces(pids).items():
            socks: list[Sock] = []
            for name, proto, family in _TABLES:
                data = read_file(f"{self._proc}/{members[0]}/net/{name}", 16 * 1024 * 1024)
                if data is not None:
                    socks += parse_table(data.decode("ascii", "replace"), proto, family)
            baseline = ns not in self._seen
            seen = self._seen.setdefault(ns, set())
            new = [s for s in socks if s.inode and s.inode not in seen]
            seen.update(s.inode for s in new)
            live = {s.inode for s in socks}
            if len(seen) > _MAX_SEEN:
                seen &= live
            if baseline or not new:
                continue
            listening = {s.local_port for s in socks if s.protocol == 6 and s.state == _LISTEN}
            wanted = {s.inode for s in new}
            mine = self._owners(["self"], wanted)  # the agent's own connections (to its server)
            owners = self._owners(members, wanted - mine.keys())
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            for s in new:
                kind = classify(s, listening)
                if not kind:
                    continue
                pid = owners.get(s.inode, 0)
                if s.inode in mine:
                    continue
                if not pid:
                    self.counters["net_unattributed"] += 1
                    continue
                out.append(
                    NetRecord(
                        ktime=now,
                        pid=pid,
                        kind=kind,
                        family=s.family,
                        protocol=s.protocol,
                        sock_type=1 if s.protocol == 6 else 2,
                        local_ip=s.local_ip,
                        local_port=s.local_port,
                        remote_ip=s.remote_ip if kind in ("connect", "accept") else "",
                        remote_port=s.remote_port if kind in ("connect", "accept") else 0,
                    )
                )
        return out
