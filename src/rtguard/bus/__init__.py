"""The event bus between ingest and detection: in memory for the embedded server."""

from rtguard.bus.memory import MemoryBus

__all__ = ["MemoryBus"]
