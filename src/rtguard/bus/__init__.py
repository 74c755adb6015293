"""The event bus between ingest and detection: a doorbell over the store's log in the embedded
server (``memory``), NATS JetStream carrying the events in the scale-out mode (``nats``, imported
only when used)."""

from rtguard.bus.base import Bus, BusError, BusMessage, Doorbell, EventStream
from rtguard.bus.memory import MemoryBus

__all__ = ["Bus", "BusError", "BusMessage", "Doorbell", "EventStream", "MemoryBus"]
