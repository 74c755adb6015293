"""The ptrace tracer: one thread that follows every process of the task and never loses an exec.

``Tracer.run`` is the body of the one thread that attaches (``PTRACE_SEIZE``, which does not
stop anyone) to each process it is asked to, and to all its threads; from then on the kernel
auto-attaches every fork, vfork and clone, so nothing started by a traced process escapes. Each
ptrace-stop is handled in a few system calls: fork events become ``ForkRecord``s, exec events
an ``ExecRecord`` read while the process is held in its exec stop, exit statuses an
``ExitRecord``; signal-delivery-stops re-inject the signal, group-stops are kept with
``PTRACE_LISTEN`` (job control keeps working), and a tracee that execs a debugger is released
so the workload's own ``strace``/``gdb`` can work. Other threads talk to it only through
``request_attach`` and ``request_stop``, which ring a "bell": a tiny child process of the
tracer thread that is stopped and continued, so that the blocking ``waitpid`` wakes up without
any polling. On stop it interrupts and detaches every tracee (a tracee in group-stop stays
stopped, as it would without us). It must NOT stop or kill a workload process, must NOT set
``PTRACE_O_EXITKILL``, and must NOT enrich records.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, MutableMapping
from typing import Final

from rtguard.agent.sensors.ptrace import libc
from rtguard.agent.sensors.ptrace.procread import ExecReader, read_file
from rtguard.agent.sensors.records import ExecRecord, ExitRecord, ForkRecord, Record

__all__ = ["DEBUGGERS", "Tracer"]

_log = logging.getLogger(__name__)

DEBUGGERS: Final = frozenset({"strace", "ltrace", "gdb", "gdbserver", "lldb", "lldb-server", "rr"})
"""Executables that trace their children themselves: released at exec so that they work."""

_PR_SET_PDEATHSIG: Final = 1
_SYSCALL_STOP: Final = signal.SIGTRAP | 0x80
_MAX_GONE_EARLY: Final = 4096


def _now() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def tracer_pid(proc_root: str, pid: int) -> int:
    """The ``TracerPid`` of ``pid`` (0: not traced or unreadable)."""
    data = read_file(f"{proc_root}/{pid}/status")
    if data is None:
        return 0
    for line in data.split(b"\n"):
        if line.startswith(b"TracerPid:"):
            with contextlib.suppress(ValueError):
                return int(line.split(b":", 1)[1])
    return 0


class Tracer:
    """The tracer thread's state. Only ``run`` (in its own thread) issues ptrace requests.

    Args:
        sink: called with every record, from the tracer thread; must not block for long.
        reader: reads exec records while the process is stopped.
        ignored: pids not to attach to, shared with the discovery loop (pid → reason).
        proc_root: the task's procfs.
        release: executable names to detach from at exec (debuggers).

    Thread-safety: ``request_attach``, ``request_stop``, ``traced`` and ``counters`` may be used
    from any thread; everything else belongs to the tracer thread.
    """

    def __init__(
        self,
        sink: Callable[[Record], None],
        reader: ExecReader,
        ignored: MutableMapping[int, str],
        *,
        proc_root: str = "/proc",
        release: frozenset[str] = DEBUGGERS,
    ) -> None:
        self._sink = sink
        self._reader = reader
        self._ignored = ignored
        self._proc = proc_root
        self._release = release
        self._tasks: dict[int, int] = {}  # tid → tgid of every traced thread
        self._starts: dict[int, int] = {}  # tgid → start (CLOCK_BOOTTIME ns)
        self._container_starts: dict[str, int] = {}  # cgroup path → first process start (wall ns)
        self._early: dict[int, int] = {}  # new tid whose first stop came before its parent's event
        self._gone_early: set[int] = set()
        self._requests: deque[tuple[int, bool]] = deque()
        self._stop_requested = threading.Event()
        self._stopping = False
        self._bell = 0
        self.tid = 0
        self.traced: set[int] = set()  # traced tgids (read by discovery; written here only)
        self.counters: Counter[str] = Counter()
        self.ready = threading.Event()
        self.done = threading.Event()

    # ------------------------------------------------------------------ other threads

    def request_attach(self, pids: Iterable[int], *, report: bool) -> None:
        """Ask the tracer to attach to ``pids``; ``report``: emit an exec record for each."""
        for pid in pids:
            self._requests.append((pid, report))
        self._ring()

    def request_stop(self) -> None:
        """Ask the tracer to detach from everything and end ``run``. Returns at once."""
        self._stop_requested.set()
        self._ring()

    def _ring(self) -> None:
        if self._bell > 0:
            with contextlib.suppress(OSError):
                os.kill(self._bell, signal.SIGSTOP)

    # ------------------------------------------------------------------ tracer thread

    def run(self) -> None:
        """The tracer thread's body: returns after ``request_stop`` once every tracee is detached."""
        self.tid = threading.get_native_id()
        try:
            self._bell = self._fork_bell()
        finally:
            self.ready.set()
        try:
            self._loop()
        except Exception:
            _log.exception("ptrace tracer failed; detaching")
            self.counters["tracer_failed"] += 1
            self._detach_all_now()
        finally:
            self._kill_bell()
            self.done.set()

    def _fork_bell(self) -> int:
        pid = os.fork()
        if pid == 0:  # the bell: sleeps until stopped/continued; dies with the tracer thread
            try:
                libc_ = ctypes.CDLL(None)
                libc_.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                while True:
                    libc_.pause()
            finally:
                os._exit(0)
        return pid

    def _kill_bell(self) -> None:
        bell, self._bell = self._bell, 0
        if bell > 0:
            with contextlib.suppress(OSError):
                os.kill(bell, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(bell, libc.WAIT_ALL)

    def _loop(self) -> None:
        deadline = 0.0
        while True:
            if self._stopping and not self._tasks:
                return
            if self._stopping and time.monotonic() > deadline:
                self.counters["detach_timeout"] += len(self._tasks)
                return
            try:
                tid, status = libc.wait_any()
            except ChildProcessError:
                return
            if tid == self._bell:
                self._on_bell(status)
                if self._stop_requested.is_set() and not self._stopping:
                    deadline = time.monotonic() + 5.0
                    self._begin_stop()
                continue
            self._on_status(tid, status)

    def _on_bell(self, status: int) -> None:
        ws = libc.decode_status(status)
        if ws.exited:
            self._bell = self._fork_bell()
        elif ws.stopped:
            with contextlib.suppress(OSError):
                os.kill(self._bell, signal.SIGCONT)
        while self._requests:
            pid, report = self._requests.popleft()
            if not self._stop_requested.is_set():
                self._attach(pid, report=report)

    def _begin_stop(self) -> None:
        self._stopping = True
        for tid, status in list(self._early.items()):
            del self._early[tid]
            self._detach(tid, libc.decode_status(status))
        for tid in list(self._tasks):
            try:
                libc.interrupt(tid)
            except OSError:
                self._tasks.pop(tid, None)

    def _detach_all_now(self) -> None:
        for tid in list(self._tasks):
            with contextlib.suppress(OSError):
                libc.detach(tid, 0)
        self._tasks.clear()

    # ------------------------------------------------------------------ attaching

    def _attach(self, pid: int, *, report: bool) -> None:
        if pid in self._tasks or pid in self._ignored:
            return
        start = self._reader.start_boottime(pid)
        if not start:
            return
        try:
            libc.seize(pid)
        except OSError as exc:
            self._attach_failed(pid, exc, report=report)
            return
        self._tasks[pid] = pid
        self._starts[pid] = start
        self.traced.add(pid)
        self._seize_threads(pid)
        self.counters["attached"] += 1
        rec = self._reader.read(
            pid, tid=pid, ktime=_now(), start_boottime=start, parent_starts=self._starts, late=True
        )
        if rec is None:
            return
        wall = self._reader.boot_to_wall(start)
        if rec.cgroup_path and wall < self._container_starts.get(rec.cgroup_path, wall + 1):
            self._container_starts[rec.cgroup_path] = wall
        # runc's init is about to exec the real command, which is recorded as a proper exec.
        if report and not rec.comm.startswith("runc:["):
            self._sink(rec)

    def _seize_threads(self, pid: int) -> None:
        for _ in range(8):  # threads started while we attach: list again until nothing is new
            try:
                tids = [int(t) for t in os.listdir(f"{self._proc}/{pid}/task")]
            except (OSError, ValueError):
                return
            new = [t for t in tids if t not in self._tasks]
            if not new:
                return
            for tid in new:
                try:
                    libc.seize(tid)
                    self._tasks[tid] = pid
                except OSError:
                    self.counters["thread_attach_failed"] += 1

    def _attach_failed(self, pid: int, exc: OSError, *, report: bool) -> None:
        if exc.errno == errno.ESRCH:
            return
        if exc.errno == errno.EPERM:
            owner = tracer_pid(self._proc, pid)
            if owner == self.tid:
                return  # a child the kernel already attached for us; its fork event is queued
            if owner:
                self._ignored[pid] = "traced_by_other"
                self.counters["traced_by_other"] += 1
                if report and (
                    rec := self._reader.read(pid, tid=pid, ktime=_now(), start_boottime=0, late=True)
                ):
                    self._sink(rec)
                return
        self._ignored[pid] = "attach_failed"
        self.counters["attach_failed"] += 1
        _log.warning("cannot attach to a process", extra={"pid": pid, "error": str(exc)})

    # ------------------------------------------------------------------ stops

    def _resume(self, tid: int, sig: int = 0) -> None:
        try:  # noqa: SIM105 (hot path: contextlib.suppress costs a context manager per stop)
            libc.cont(tid, sig)
        except OSError:
            pass  # the tracee was killed meanwhile: its exit status follows

    def _detach(self, tid: int, ws: libc.WaitStatus) -> None:
        sig = ws.sig if ws.event == 0 and ws.sig != _SYSCALL_STOP else 0
        with contextlib.suppress(OSError):
            libc.detach(tid, sig)
        tgid = self._tasks.pop(tid, 0)
        if tgid == tid:
            self.traced.discard(tid)

    def _on_status(self, tid: int, status: int) -> None:
        ws = libc.decode_status(status)
        if ws.exited:
            self._on_exit(tid, status)
            return
        if not ws.stopped:
            return
        tgid = self._tasks.get(tid)
        if tgid is None:
            self._early[tid] = status  # held until its parent's fork event names it
            return
        if self._stopping:
            self._detach(tid, ws)
            return
        if ws.event == 0:
            self._resume(tid, 0 if ws.sig == _SYSCALL_STOP else ws.sig)
        elif ws.event in (libc.EVENT_FORK, libc.EVENT_VFORK, libc.EVENT_CLONE):
            self._on_fork(tid, tgid, ws.event)
        elif ws.event == libc.EVENT_EXEC:
            self._on_exec(tid)
        elif ws.event == libc.EVENT_STOP and ws.sig in libc.GROUP_STOP_SIGNALS:
            try:
                libc.listen(tid)
            except OSError:
                self._resume(tid)
        else:
            self._resume(tid)

    def _on_exit(self, tid: int, status: int) -> None:
        tgid = self._tasks.pop(tid, None)
        if tgid is None:
            if self._early.pop(tid, None) is None:
                if len(self._gone_early) > _MAX_GONE_EARLY:
                    self._gone_early.clear()
                self._gone_early.add(tid)
            return
        if tid == tgid:
            self.traced.discard(tid)
            start = self._starts.pop(tid, 0)
            self._sink(ExitRecord(ktime=_now(), pid=tid, start_boottime=start, exit_code=status))

    def _on_fork(self, tid: int, tgid: int, event: int) -> None:
        try:
            new = libc.get_event_msg(tid)
        except OSError:
            self._resume(tid)
            return
        if new in self._gone_early:
            self._gone_early.discard(new)
            self._resume(tid)
            return
        thread = event == libc.EVENT_CLONE and os.path.exists(f"{self._proc}/{tgid}/task/{new}")
        self._tasks[new] = tgid if thread else new
        if not thread:
            start = self._reader.start_boottime(new)
            self._starts[new] = start
            self.traced.add(new)
            self._sink(
                ForkRecord(
                    ktime=_now(),
                    parent_pid=tgid,
                    child_pid=new,
                    child_start_boottime=start,
                    parent_start_boottime=self._starts.get(tgid, 0),
                )
            )
        early = self._early.pop(new, None)
        if early is not None:
            self._on_status(new, early)
        self._resume(tid)

    def _on_exec(self, tid: int) -> None:
        try:
            former = libc.get_event_msg(tid)
        except OSError:
            former = tid
        if former != tid:
            self._tasks.pop(former, None)
        self._tasks[tid] = tid
        self.traced.add(tid)
        start = self._starts.get(tid) or self._reader.start_boottime(tid)
        self._starts[tid] = start
        rec = self._reader.read(
            tid,
            tid=former,
            ktime=_now(),
            start_boottime=start,
            parent_starts=self._starts,
            container_starts=self._container_starts,
        )
        if rec is None:
            self.counters["exec_unreadable"] += 1
        else:
            self._sink(rec)
            if os.path.basename(rec.exe_path) in self._release:
                self._release_debugger(tid, rec)
                return
        self._resume(tid)

    def _release_debugger(self, tid: int, rec: ExecRecord) -> None:
        """Detach from a debugger so its own ptrace calls work; its children are found by polling."""
        for t in [t for t, g in self._tasks.items() if g == tid]:
            with contextlib.suppress(OSError):
                libc.detach(t, 0)
            self._tasks.pop(t, None)
        self.traced.discard(tid)
        self._ignored[tid] = "debugger"
        self.counters["released_debugger"] += 1
        _log.info("released a debugger so that it can trace", extra={"pid": tid, "exe": rec.exe_path})
