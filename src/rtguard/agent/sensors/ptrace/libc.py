"""The ptrace(2) and waitpid(2) binding (ctypes over libc) and the pure decoding of wait statuses.

This is the only module that calls ``ptrace``. It names the requests, options and event codes
the sidecar sensor uses, wraps the calls so that a failure is an ``OSError`` with the errno, and
decodes a raw wait status into a ``WaitStatus`` (pure, tested without privileges). Every request
must come from the one tracer thread that attached the tracee (a kernel rule, not ours). It must
NOT hold any tracing state, and must NOT ever offer ``PTRACE_O_EXITKILL``: the workload has to
survive the agent being killed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from dataclasses import dataclass
from typing import Final

__all__ = [
    "EVENT_CLONE",
    "EVENT_EXEC",
    "EVENT_EXIT",
    "EVENT_FORK",
    "EVENT_STOP",
    "EVENT_VFORK",
    "EVENT_VFORK_DONE",
    "GROUP_STOP_SIGNALS",
    "SEIZE_OPTIONS",
    "WAIT_ALL",
    "WaitStatus",
    "cont",
    "decode_status",
    "detach",
    "get_event_msg",
    "interrupt",
    "listen",
    "seize",
    "wait_any",
]

_PTRACE_CONT: Final = 7
_PTRACE_DETACH: Final = 17
_PTRACE_SETOPTIONS: Final = 0x4200
_PTRACE_GETEVENTMSG: Final = 0x4201
_PTRACE_SEIZE: Final = 0x4206
_PTRACE_INTERRUPT: Final = 0x4207
_PTRACE_LISTEN: Final = 0x4208

_O_TRACESYSGOOD: Final = 0x01
_O_TRACEFORK: Final = 0x02
_O_TRACEVFORK: Final = 0x04
_O_TRACECLONE: Final = 0x08
_O_TRACEEXEC: Final = 0x10

SEIZE_OPTIONS: Final = _O_TRACESYSGOOD | _O_TRACEFORK | _O_TRACEVFORK | _O_TRACECLONE | _O_TRACEEXEC
"""Follow fork, vfork, clone and exec. Deliberately without TRACEEXIT (one stop fewer per
process: the exit status reaches the tracer anyway) and never with EXITKILL."""

EVENT_FORK: Final = 1
EVENT_VFORK: Final = 2
EVENT_CLONE: Final = 3
EVENT_EXEC: Final = 4
EVENT_VFORK_DONE: Final = 5
EVENT_EXIT: Final = 6
EVENT_STOP: Final = 128

GROUP_STOP_SIGNALS: Final = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})

_WNOTHREAD: Final = 0x20000000
_WALL: Final = 0x40000000
WAIT_ALL: Final = _WALL | _WNOTHREAD | os.WUNTRACED
"""Every tracee of *this thread* (threads and processes alike), and only this thread's children
(their job-control stops too): the agent's other threads keep their own children's statuses."""

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_ptrace = _libc.ptrace
_ptrace.restype = ctypes.c_long
_ptrace.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def _call(request: int, pid: int, addr: int, data: int) -> int:
    ctypes.set_errno(0)
    result = int(_ptrace(request, pid, addr, data))
    if result == -1:
        err = ctypes.get_errno()
        if err:
            raise OSError(err, os.strerror(err))
    return result


def seize(tid: int, options: int = SEIZE_OPTIONS) -> None:
    """Attach to one thread without stopping it (``PTRACE_SEIZE``) with ``options``."""
    _call(_PTRACE_SEIZE, tid, 0, options)


def cont(tid: int, sig: int = 0) -> None:
    """Resume a tracee in a ptrace-stop, delivering ``sig`` (0: none)."""
    _call(_PTRACE_CONT, tid, 0, sig)


def listen(tid: int) -> None:
    """Let a tracee in group-stop stay stopped but report when it is continued (``PTRACE_LISTEN``)."""
    _call(_PTRACE_LISTEN, tid, 0, 0)


def interrupt(tid: int) -> None:
    """Ask a running tracee to enter a ptrace-stop (``PTRACE_INTERRUPT``)."""
    _call(_PTRACE_INTERRUPT, tid, 0, 0)


def detach(tid: int, sig: int = 0) -> None:
    """Detach from a stopped tracee, delivering ``sig`` (0: none)."""
    _call(_PTRACE_DETACH, tid, 0, sig)


def get_event_msg(tid: int) -> int:
    """The event message of the last ptrace event (new pid for fork/clone, former tid for exec)."""
    msg = ctypes.c_ulong(0)
    _call(_PTRACE_GETEVENTMSG, tid, 0, ctypes.addressof(msg))
    return int(msg.value)


def wait_any() -> tuple[int, int]:
    """Block until one of this thread's tracees or children changes state; ``(tid, status)``.

    Raises:
        ChildProcessError: when this thread has no tracee and no child left.
    """
    return os.waitpid(-1, WAIT_ALL)


@dataclass(frozen=True, slots=True)
class WaitStatus:
    """A decoded wait status.

    ``exited`` covers both a normal exit and death by a signal; ``stopped`` is a ptrace-stop
    with ``sig`` (the stop signal) and ``event`` (``EVENT_*``, 0 for a signal-delivery-stop).
    """

    exited: bool
    stopped: bool
    sig: int
    event: int
    raw: int


def decode_status(status: int) -> WaitStatus:
    """Decode a raw ``waitpid`` status (pure)."""
    if os.WIFEXITED(status) or os.WIFSIGNALED(status):
        return WaitStatus(exited=True, stopped=False, sig=0, event=0, raw=status)
    if os.WIFSTOPPED(status):
        return WaitStatus(
            exited=False, stopped=True, sig=os.WSTOPSIG(status), event=(status >> 16) & 0xFF, raw=status
        )
    return WaitStatus(exited=False, stopped=False, sig=0, event=0, raw=status)
