"""The requirement tables behind Fargate sidecar injection and pre-flight checks: the CPU and
memory combinations Fargate accepts, GuardDuty's agent memory limit by task size (reference §5),
our own agent's smaller budget, the minimum platform version, and the supported operating
systems and CPU architectures.

Pure data and small pure look-ups over it; must not read task definitions (``inject`` and
``preflight`` do) or do any I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "AGENT_CAPABILITIES",
    "FARGATE_MEMORY",
    "MIN_PLATFORM_VERSION",
    "RTGUARD_AGENT_MEMORY_MIB",
    "SUPPORTED_ARCHITECTURES",
    "SUPPORTED_OS",
    "guardduty_agent_memory",
    "next_valid_size",
    "platform_version_ok",
    "valid_fargate_size",
]

# Measured: the spine agent runs at 25-30 MB RSS; 64 MiB leaves room for bursts and the spool.
RTGUARD_AGENT_MEMORY_MIB: Final = 64
MIN_PLATFORM_VERSION: Final = (1, 4, 0)
SUPPORTED_OS: Final = frozenset({"LINUX"})
SUPPORTED_ARCHITECTURES: Final = frozenset({"X86_64", "ARM64"})
# On Fargate only SYS_PTRACE can be added; with pidMode "task" it lets the agent read every
# process of the task from /proc. Everything else is dropped.
AGENT_CAPABILITIES: Final = ("SYS_PTRACE",)


def _steps(low: int, high: int, step: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1, step))


# Task CPU units → the task memory sizes (MiB) Fargate accepts with it (Linux).
FARGATE_MEMORY: Final[Mapping[int, tuple[int, ...]]] = {
    256: (512, 1024, 2048),
    512: _steps(1024, 4096, 1024),
    1024: _steps(2048, 8192, 1024),
    2048: _steps(4096, 16384, 1024),
    4096: _steps(8192, 30720, 1024),
    8192: _steps(16384, 61440, 4096),
    16384: _steps(32768, 122880, 8192),
}


def valid_fargate_size(cpu: int, memory: int) -> bool:
    """True when Fargate accepts a task of ``cpu`` units and ``memory`` MiB."""
    return memory in FARGATE_MEMORY.get(cpu, ())


def next_valid_size(cpu: int, need_memory: int) -> tuple[int, int] | None:
    """The smallest valid Fargate (cpu, memory) with at least ``cpu`` units and ``need_memory`` MiB.

    Keeps the CPU when one of its sizes is large enough; otherwise moves to the next CPU size.
    None when no Fargate size is large enough.
    """
    for units in sorted(FARGATE_MEMORY):
        if units < cpu:
            continue
        for memory in FARGATE_MEMORY[units]:
            if memory >= need_memory:
                return units, memory
    return None


def guardduty_agent_memory(cpu: int, memory: int) -> int:
    """GuardDuty's agent memory limit (MiB) for a task of this size (reference §5 table)."""
    if cpu >= 16384:
        return 1024
    if cpu >= 8192:
        return 512 if memory >= 32768 else 256
    return 128


def platform_version_ok(version: str) -> bool:
    """True for ``LATEST`` or a platform version of at least 1.4.0."""
    text = version.strip().upper()
    if text in ("", "LATEST"):
        return True
    parts = text.split(".")
    if not all(p.isdigit() for p in parts):
        return False
    numbers = tuple(int(p) for p in parts) + (0,) * (3 - len(parts))
    return numbers >= MIN_PLATFORM_VERSION
