"""``ProcfsSensor``: what the agent runs on when eBPF cannot load, behind the ``Sensor`` protocol.

It combines the proc connector (exec, fork and exit, completed from /proc) and the AF_PACKET
DNS capture, each only where permitted, and says plainly what it cannot see
(``blind_spots``): the heartbeat carries that list so nobody mistakes silence for safety.
The start-up /proc inventory stays the agent's own step. It must NOT pretend to cover event
classes it cannot see, and must NOT enrich records.
"""

from __future__ import annotations

import logging
import select
from typing import Final

from rtguard.agent.sensors.procfs.connector import ProcConnector
from rtguard.agent.sensors.procfs.dnscap import DnsCapture
from rtguard.agent.sensors.records import Record, SensorStats, SensorUnavailable

__all__ = ["ALWAYS_BLIND", "ProcfsSensor"]

_log = logging.getLogger(__name__)
_BATCH: Final = 1024

# Event classes only the kernel sensor can see.
ALWAYS_BLIND: Final = (
    "argv, cwd and environment of processes that exit before /proc is read",
    "net_connect, net_accept, net_bind, net_listen, unix_connect",
    "file_write, file_rename, file_link, file_symlink, file_unlink, file_chmod",
    "ptrace, process_vm_write, memfd_create, userfaultfd, mount, module_load, cred_change, stdio_redirect",
    "exe_written_after_start (overlay upper layer)",
    "process attribution of DNS queries",
)


class ProcfsSensor:
    """Proc connector plus DNS capture. ``name`` is ``"procfs"``. Not thread-safe."""

    name = "procfs"

    def __init__(self, *, reason: str = "", proc_root: str = "/proc") -> None:
        """``reason``: why eBPF is not used (shown in ``blind_spots``)."""
        self._reason = reason
        self._connector = ProcConnector(proc_root)
        self._dns = DnsCapture()
        self._blind: list[str] = []
        self._delivered = 0

    def start(self) -> None:
        """Open what is permitted; never fails for a missing part, only lists it as blind."""
        blind = [f"eBPF not used: {self._reason}"] if self._reason else []
        try:
            self._connector.open()
        except SensorUnavailable as exc:
            _log.warning("proc connector unavailable", extra={"reason": str(exc)})
            blind.append(f"process_exec, process_exit: {exc} (only the start-up /proc inventory)")
        try:
            self._dns.open()
        except SensorUnavailable as exc:
            _log.warning("dns capture unavailable", extra={"reason": str(exc)})
            blind.append(f"dns_query: {exc}")
        self._blind = blind + list(ALWAYS_BLIND)

    def blind_spots(self) -> list[str]:
        """What this sensor cannot see here."""
        return list(self._blind)

    def poll(self, timeout_ms: int) -> list[Record]:
        """Drain both sources, waiting up to ``timeout_ms`` when neither has anything."""
        fds = [fd for fd in (self._connector.fileno(), self._dns.fileno()) if fd >= 0]
        if not fds:
            raise SensorUnavailable("the procfs sensor has no source open")
        if timeout_ms > 0:
            select.select(fds, [], [], timeout_ms / 1000)
        out: list[Record] = [*self._connector.drain(_BATCH), *self._dns.drain(_BATCH)]
        self._delivered += len(out)
        return out

    def stats(self) -> SensorStats:
        """Records delivered; losses: connector overruns (ENOBUFS), execs gone before /proc was read."""
        return SensorStats(
            records=self._delivered,
            lost={
                "connector_overrun": self._connector.overruns,
                "exec_vanished": self._connector.exec_vanished,
            },
        )

    def close(self) -> None:
        """Close both sources."""
        self._connector.close()
        self._dns.close()
