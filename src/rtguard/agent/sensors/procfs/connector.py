"""The proc connector (NETLINK_CONNECTOR, CN_IDX_PROC): exec, fork and exit without eBPF.

``parse_proc_event`` is pure (bytes of one netlink message in, a raw ``ForkRecord``,
``ExitRecord`` or the pid of an exec out) and is tested without root; ``ProcConnector`` owns the
socket: it subscribes (``PROC_CN_MCAST_LISTEN``), drains it without blocking, and reads
``/proc/<pid>`` right after an exec (the connector carries only pids, so a process that is
already gone is reported with what is left: its pid). It needs root in the initial namespaces.
It must NOT enrich (that is ``rtguard.agent.enrich``) and must NOT block the caller beyond
the ``poll`` timeout.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import struct
from typing import Final

from rtguard.agent.sensors.procfs.snapshot import read_process
from rtguard.agent.sensors.records import ExecRecord, ExitRecord, ForkRecord, Record, SensorUnavailable

__all__ = ["ExecPid", "ProcConnector", "parse_proc_event"]

_NETLINK_CONNECTOR: Final = 11
_CN_IDX_PROC: Final = 1
_CN_VAL_PROC: Final = 1
_PROC_CN_MCAST_LISTEN: Final = 1
_NLMSG_DONE: Final = 3
_NLMSG: Final = struct.Struct("=IHHII")
_CNMSG: Final = struct.Struct("=IIIIHH")
_EVENT_HEAD: Final = struct.Struct("=IIQ")
_FORK: Final = struct.Struct("=IIII")
_EXEC: Final = struct.Struct("=II")
_EXIT: Final = struct.Struct("=IIII")
_WHAT_FORK: Final = 0x1
_WHAT_EXEC: Final = 0x2
_WHAT_EXIT: Final = 0x80000000
_RCVBUF: Final = 8 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class ExecPid:
    """An exec the connector reported: only the pid and the kernel time are known."""

    pid: int
    ktime: int


def parse_proc_event(msg: bytes) -> ForkRecord | ExitRecord | ExecPid | None:
    """Parse one netlink message of the proc connector; ``None`` for anything else.

    Threads are left out: forks of a thread and exits of a non-leader thread give ``None``.
    """
    head = _NLMSG.size + _CNMSG.size
    if len(msg) < head + _EVENT_HEAD.size:
        return None
    idx, val, _seq, _ack, length, _flags = _CNMSG.unpack_from(msg, _NLMSG.size)
    if (idx, val) != (_CN_IDX_PROC, _CN_VAL_PROC) or len(msg) < head + length:
        return None
    what, _cpu, ts = _EVENT_HEAD.unpack_from(msg, head)
    body = head + _EVENT_HEAD.size
    try:
        if what == _WHAT_FORK:
            _ppid, ptgid, cpid, ctgid = _FORK.unpack_from(msg, body)
            return ForkRecord(ktime=ts, parent_pid=ptgid, child_pid=ctgid) if cpid == ctgid else None
        if what == _WHAT_EXEC:
            pid, tgid = _EXEC.unpack_from(msg, body)
            return ExecPid(pid=tgid, ktime=ts) if pid == tgid else None
        if what == _WHAT_EXIT:
            pid, tgid, code, _sig = _EXIT.unpack_from(msg, body)
            return ExitRecord(ktime=ts, pid=tgid, exit_code=code) if pid == tgid else None
    except struct.error:
        return None
    return None


def _listen_message(pid: int) -> bytes:
    op = struct.pack("=I", _PROC_CN_MCAST_LISTEN)
    cn = _CNMSG.pack(_CN_IDX_PROC, _CN_VAL_PROC, 0, 0, len(op), 0) + op
    return _NLMSG.pack(_NLMSG.size + len(cn), _NLMSG_DONE, 0, 0, pid) + cn


class ProcConnector:
    """A proc-connector subscription. Not thread-safe: one thread opens, drains and closes it."""

    def __init__(self, proc_root: str = "/proc") -> None:
        self._proc = proc_root
        self._sock: socket.socket | None = None
        self.overruns = 0
        self.exec_vanished = 0

    def open(self) -> None:
        """Subscribe. Raises ``SensorUnavailable`` with the reason (no root, not in the host netns)."""
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_CONNECTOR)
        except OSError as exc:
            raise SensorUnavailable(f"proc connector: cannot open a netlink socket ({exc})") from exc
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, 33, _RCVBUF)  # SO_RCVBUFFORCE
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.bind((os.getpid(), _CN_IDX_PROC))
            sock.send(_listen_message(os.getpid()))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise SensorUnavailable(
                f"proc connector: subscribing failed ({exc}): it needs root in the host's namespaces"
            ) from exc
        self._sock = sock

    def fileno(self) -> int:
        """The socket's fd (for select); -1 when closed."""
        return self._sock.fileno() if self._sock is not None else -1

    def drain(self, limit: int) -> list[Record]:
        """Read up to ``limit`` messages without blocking; execs are completed from /proc."""
        sock = self._sock
        out: list[Record] = []
        if sock is None:
            return out
        for _ in range(limit):
            try:
                msg = sock.recv(4096)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.overruns += 1
                    continue
                raise
            item = parse_proc_event(msg)
            if isinstance(item, ExecPid):
                out.append(self._exec_record(item))
            elif item is not None:
                out.append(item)
        return out

    def _exec_record(self, ev: ExecPid) -> ExecRecord:
        rec = read_process(ev.pid, self._proc)
        if rec is None:
            self.exec_vanished += 1
            return ExecRecord(ktime=ev.ktime, pid=ev.pid)
        return dataclasses.replace(rec, ktime=ev.ktime, from_snapshot=False)

    def close(self) -> None:
        """Unsubscribe; safe to call twice."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
