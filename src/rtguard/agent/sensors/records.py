"""Raw sensor records: what a sensor hands to enrichment, before any look-up.

Every sensor (eBPF, procfs snapshot, proc connector, ptrace sidecar) produces these records;
``rtguard.agent.enrich`` turns them into model ``Event`` objects. Pure data, no I/O. Times:
``ktime`` is CLOCK_MONOTONIC nanoseconds (``bpf_ktime_get_ns``; 0 when unknown);
``start_boottime`` is the task's start in CLOCK_BOOTTIME nanoseconds, the clock behind the
``starttime`` field of ``/proc/<pid>/stat``, so that both sources give one stable process id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecRecord:
    """A process image: from a real exec (``ktime`` > 0) or from the start-up snapshot."""

    ktime: int = 0
    pid: int
    tid: int = 0
    ppid: int = 0
    ns_pid: int = 0
    uid: int = 0
    euid: int = 0
    gid: int = 0
    egid: int = 0
    start_boottime: int = 0
    parent_start_boottime: int = 0
    comm: str = ""
    filename: str = ""
    argv: tuple[str, ...] = ()
    argv_truncated: bool = False
    cgroup_id: int = 0
    cgroup_path: str = ""
    mntns: int = 0
    pidns: int = 0
    exe_dev: int = 0
    exe_ino: int = 0
    exe_mtime: int = 0
    cwd: str = ""
    from_snapshot: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ForkRecord:
    """A new process (thread-group leader only): ``child_pid`` forked from ``parent_pid``."""

    ktime: int = 0
    parent_pid: int
    child_pid: int
    child_start_boottime: int = 0
    parent_start_boottime: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitRecord:
    """A process (thread-group leader) exited with the raw wait status ``exit_code``."""

    ktime: int = 0
    pid: int
    start_boottime: int = 0
    exit_code: int = 0


Record = ExecRecord | ForkRecord | ExitRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorStats:
    """Counters a sensor reports: records delivered, and records lost by reason."""

    records: int = 0
    lost: dict[str, int] | None = None


class Sensor(Protocol):
    """A source of raw records.

    ``start`` opens and attaches (raising ``SensorUnavailable`` with a reason a user can act
    on); ``poll`` drains whatever is ready, waiting up to ``timeout_ms``, and returns an empty
    list when nothing came; ``close`` detaches and always succeeds. Not thread-safe: one
    thread polls.
    """

    name: str

    def start(self) -> None: ...

    def poll(self, timeout_ms: int) -> list[Record]: ...

    def stats(self) -> SensorStats: ...

    def close(self) -> None: ...


class SensorUnavailable(RuntimeError):
    """The sensor cannot run here; the message says why and what to do."""
