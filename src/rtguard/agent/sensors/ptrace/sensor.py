"""``PtraceSensor`` (``--sensor sidecar``): every process of an ECS Fargate task, without eBPF.

In a task with ``pidMode: task`` the sidecar sees the workload's processes and, holding only
``SYS_PTRACE``, can trace them. A discovery thread lists ``/proc`` every ``discover_interval``
and hands each new top-level process (the task's entry points, ``runc exec``/ECS Exec
sessions) to the ``Tracer``; from then on every descendant is followed by the kernel, so every
exec, fork and exit after the attach is seen. The same thread polls the task's socket tables
(``NetPoller``) and the sensor drains a DNS packet capture where ``CAP_NET_RAW`` allows it.
Records wait in one bounded queue that ``poll`` drains in batches (drops counted by reason);
``blind_spots`` says plainly what this mode cannot see. It must NOT run in a host's pid
namespace unless told which processes to trace (it would trace the whole machine), must NOT
trace the agent's own container, and must NOT enrich records.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

from rtguard.agent.sensors.procfs.parse import ProcParseError, cgroup_path, parse_cgroup, parse_stat
from rtguard.agent.sensors.ptrace.netpoll import NetPoller
from rtguard.agent.sensors.ptrace.procread import ExecReader, read_file
from rtguard.agent.sensors.ptrace.tracer import DEBUGGERS, Tracer, tracer_pid
from rtguard.agent.sensors.records import Record, SensorStats, SensorUnavailable

__all__ = ["ALWAYS_BLIND", "PtraceSensor", "sidecar_unavailable_reason"]

_log = logging.getLogger(__name__)
_CAP_SYS_PTRACE: Final = 19
_BATCH: Final = 4096
_REQUEST_AGAIN_S: Final = 1.0

ALWAYS_BLIND: Final = (
    "file_write, file_rename, file_link, file_symlink, file_unlink, file_chmod (no syscall tracing)",
    "ptrace, process_vm_write, memfd_create, userfaultfd, mount, module_load, unix_connect, stdio_redirect",
    "cred_change other than through exec (setuid() calls inside a process)",
    "net_connect/net_accept/net_bind/net_listen of sockets opened and closed between two polls "
    "of the socket tables, and of processes gone before the poll",
    "process attribution of DNS queries",
    "processes started by a process that is not traced, during the discovery interval "
    "before they are attached",
)


class _Dns(Protocol):
    def open(self) -> None: ...
    def drain(self, limit: int) -> list[Record]: ...
    def close(self) -> None: ...


def _cap_eff(proc_root: str) -> int:
    data = read_file(f"{proc_root}/self/status") or b""
    for line in data.split(b"\n"):
        if line.startswith(b"CapEff:"):
            with contextlib.suppress(ValueError):
                return int(line.split(b":", 1)[1], 16)
    return 0


def _is_kernel_thread(proc_root: str, pid: int) -> bool:
    data = read_file(f"{proc_root}/{pid}/stat")
    if data is None:
        return False
    try:
        return parse_stat(data).is_kernel_thread
    except ProcParseError:
        return False


def sidecar_unavailable_reason(proc_root: str = "/proc") -> str:
    """Why the sidecar sensor cannot run here (``""``: it can).

    It needs ``CAP_SYS_PTRACE``, Yama not set to "no attach", and a task's pid namespace (no
    kernel threads visible: on a host it would trace every process of the machine).
    """
    if not _cap_eff(proc_root) & (1 << _CAP_SYS_PTRACE):
        return "CAP_SYS_PTRACE is missing: add SYS_PTRACE to the sidecar's linuxParameters.capabilities"
    scope = read_file("/proc/sys/kernel/yama/ptrace_scope")
    if scope is not None and scope.strip() == b"3":
        return "kernel.yama.ptrace_scope is 3: ptrace is disabled on this kernel"
    if _is_kernel_thread(proc_root, 2):
        return (
            "this is a host pid namespace (kernel threads are visible): the sidecar sensor runs "
            "in a task with pidMode: task; on a host use --sensor ebpf"
        )
    return ""


def _open_dns() -> tuple[_Dns | None, str]:
    try:
        from rtguard.agent.sensors.procfs.dnscap import DnsCapture
    except ImportError:
        return None, "dns_query: no packet capture in this build"
    dns = DnsCapture()
    try:
        dns.open()
    except SensorUnavailable as exc:
        return None, f"dns_query: {exc}"
    return dns, ""  # type: ignore[return-value]  # DnsRecord lists are Record lists


class PtraceSensor:
    """The sidecar sensor. ``name`` is ``"sidecar"``. ``poll`` from one thread only.

    Args:
        proc_root: the task's procfs.
        include: trace only pids for which this is true (tests, or a host where the caller
            names the processes); default: every process of the pid namespace except the
            agent's own container (refused in a host pid namespace).
        max_queue: bound on records waiting for ``poll``.
        discover_interval: seconds between ``/proc`` scans for new top-level processes.
        net_interval: seconds between socket-table polls (0 disables).
        dns: open a DNS packet capture where permitted.
        release: executable names to detach from at exec (debuggers).
    """

    name = "sidecar"

    def __init__(
        self,
        *,
        proc_root: str = "/proc",
        include: Callable[[int], bool] | None = None,
        max_queue: int = 65_536,
        discover_interval: float = 0.02,
        net_interval: float = 1.0,
        dns: bool = True,
        release: frozenset[str] = DEBUGGERS,
    ) -> None:
        self._proc = proc_root
        self._include = include
        self._max_queue = max(1, max_queue)
        self._wake_at = max(1, self._max_queue // 4)
        self._discover_interval = discover_interval
        self._net_interval = net_interval
        self._want_dns = dns
        self._queue: deque[Record] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._ignored: dict[int, str] = {}
        self._requested: dict[int, float] = {}
        self._tracer = Tracer(
            self._push, ExecReader(proc_root), self._ignored, proc_root=proc_root, release=release
        )
        self._net = NetPoller(proc_root)
        self._dns: _Dns | None = None
        self._blind: list[str] = []
        self._own_cgroup = ""
        self._threads: list[threading.Thread] = []
        self._delivered = 0
        self._dropped = 0

    # ------------------------------------------------------------------ Sensor protocol

    def start(self) -> None:
        """Attach to every process there now, then start discovery; raises ``SensorUnavailable``."""
        reason = sidecar_unavailable_reason(self._proc)
        if reason and not (self._include is not None and "host pid namespace" in reason):
            raise SensorUnavailable(f"sidecar (ptrace) sensor: {reason}")
        own = read_file(f"{self._proc}/self/cgroup")
        self._own_cgroup = cgroup_path(parse_cgroup(own)) if own else ""
        tracer = threading.Thread(target=self._tracer.run, name="rtguard-ptrace", daemon=True)
        tracer.start()
        self._threads.append(tracer)
        if not self._tracer.ready.wait(10):
            raise SensorUnavailable("sidecar (ptrace) sensor: the tracer thread did not start")
        first = self._candidates()
        self._tracer.request_attach(first, report=False)
        deadline = time.monotonic() + 10  # wait until the tracer has worked through the list
        while time.monotonic() < deadline and not all(
            p in self._tracer.traced or p in self._ignored or not os.path.exists(f"{self._proc}/{p}")
            for p in first
        ):
            time.sleep(0.005)
        blind: list[str] = []
        if self._want_dns:
            self._dns, why = _open_dns()
            if why:
                blind.append(why)
        self._blind = blind + list(ALWAYS_BLIND)
        watcher = threading.Thread(target=self._watch, name="rtguard-ptrace-discovery", daemon=True)
        watcher.start()
        self._threads.append(watcher)
        _log.info("sidecar sensor attached", extra={"processes": len(self._tracer.traced)})

    def poll(self, timeout_ms: int) -> list[Record]:
        """Drain up to one batch of records, waiting up to ``timeout_ms`` when there is none."""
        if not self._queue and timeout_ms > 0:
            self._wake.wait(timeout_ms / 1000)
        self._wake.clear()
        out: list[Record] = []
        queue = self._queue
        while queue and len(out) < _BATCH:
            out.append(queue.popleft())
        if self._dns is not None:
            out += self._dns.drain(_BATCH)
        self._delivered += len(out)
        return out

    def stats(self) -> SensorStats:
        """Records delivered; losses and blind processes by reason."""
        lost = {k: v for k, v in self._tracer.counters.items() if k not in ("attached", "released_debugger")}
        lost.update(self._net.counters)
        lost["queue_full"] = self._dropped
        return SensorStats(records=self._delivered, lost=lost)

    def blind_spots(self) -> list[str]:
        """What this mode cannot see here (the heartbeat carries it)."""
        out = list(self._blind)
        foreign = self._tracer.counters["traced_by_other"]
        if foreign:
            out.append(f"{foreign} process(es) traced by another tracer: seen only by /proc polling")
        return out

    def close(self) -> None:
        """Stop discovery, detach from every tracee (they keep running), close DNS. Idempotent."""
        self._stop.set()
        self._tracer.request_stop()
        deadline = time.monotonic() + 8
        while self._threads and self._threads[0].is_alive() and time.monotonic() < deadline:
            if self._tracer.done.wait(0.1):
                break
            self._tracer.request_stop()  # rings again: a lost ring must not hang shutdown
        for thread in self._threads:
            thread.join(1)
        self._threads.clear()
        if self._dns is not None:
            self._dns.close()
            self._dns = None

    # ------------------------------------------------------------------ internals

    @property
    def traced(self) -> frozenset[int]:
        """The traced process ids now (a copy)."""
        return frozenset(self._tracer.traced)

    def _push(self, rec: Record) -> None:
        if len(self._queue) >= self._max_queue:
            self._dropped += 1
            return
        self._queue.append(rec)
        if len(self._queue) >= self._wake_at:
            self._wake.set()

    def _exclude(self, pid: int) -> str:
        """Why ``pid`` is not traced (``""``: trace it)."""
        if pid == os.getpid():
            return "agent"
        data = read_file(f"{self._proc}/{pid}/stat")
        if data is None:
            return "gone"
        try:
            st = parse_stat(data)
        except ProcParseError:
            return "gone"
        if st.state in ("Z", "X"):
            return "gone"
        if st.is_kernel_thread:
            return "kernel_thread"
        if self._ignored.get(st.ppid) in ("debugger", "debugger_child"):
            return "debugger_child"
        if self._include is not None:
            return "" if self._include(pid) else "excluded"
        if self._own_cgroup not in ("", "/"):
            raw = read_file(f"{self._proc}/{pid}/cgroup")
            if raw is not None and cgroup_path(parse_cgroup(raw)) == self._own_cgroup:
                return "agent"
        return ""

    def _candidates(self) -> list[int]:
        try:
            pids = [int(n) for n in os.listdir(self._proc) if n.isdigit()]
        except OSError:
            return []
        listed = set(pids)
        for pid in [p for p in self._ignored if p not in listed]:
            self._ignored.pop(pid, None)
        now = time.monotonic()
        for pid in [p for p, t in self._requested.items() if now - t > _REQUEST_AGAIN_S]:
            self._requested.pop(pid, None)
        traced, ignored, requested = self._tracer.traced, self._ignored, self._requested
        out: list[int] = []
        for pid in pids:
            if pid in traced or pid in ignored or pid in requested:
                continue
            reason = self._exclude(pid)
            if reason == "gone":
                continue
            if reason:
                ignored[pid] = reason
                continue
            requested[pid] = now
            out.append(pid)
        return out

    def _retry_foreign(self) -> None:
        for pid, reason in list(self._ignored.items()):
            if reason == "traced_by_other" and tracer_pid(self._proc, pid) == 0:
                self._ignored.pop(pid, None)

    def _watch(self) -> None:
        next_net = time.monotonic() + self._net_interval
        next_retry = time.monotonic() + 2.0
        while not self._stop.wait(self._discover_interval):
            try:
                new = self._candidates()
                if new:
                    self._tracer.request_attach(new, report=True)
                now = time.monotonic()
                if self._net_interval > 0 and now >= next_net:
                    next_net = now + self._net_interval
                    for rec in self._net.poll(list(self._tracer.traced)):
                        self._push(rec)
                if now >= next_retry:
                    next_retry = now + 2.0
                    self._retry_foreign()
            except Exception:  # discovery must outlive any odd /proc entry
                _log.exception("sidecar discovery failed once")
