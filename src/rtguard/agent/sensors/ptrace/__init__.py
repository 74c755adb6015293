"""The Fargate sidecar sensor: ptrace (``SYS_PTRACE`` only) instead of eBPF.

``PtraceSensor`` follows every process of the task from the moment it is attached;
``sidecar_unavailable_reason`` says whether this mode can run here. The parts: ``libc`` (the
only ptrace caller), ``tracer`` (the one tracer thread), ``procread`` (reads a stopped
process), ``netpoll`` (socket tables). This package must not import ``rtguard.agent.enrich``.
"""

from rtguard.agent.sensors.ptrace.sensor import ALWAYS_BLIND, PtraceSensor, sidecar_unavailable_reason

__all__ = ["ALWAYS_BLIND", "PtraceSensor", "sidecar_unavailable_reason"]
