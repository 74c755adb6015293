"""The embedded server's bus: a doorbell from ingest to the detection worker.

In the embedded mode the store is the durable log: ingest writes a batch durably, then rings
this bell; the detection worker wakes and reads the store from its cursor, so nothing acked is
ever lost, even across a crash. The bell carries no events, so it cannot overflow or drop. It
must not hold data: the scale-out mode replaces it with NATS JetStream, which carries events.
"""

from __future__ import annotations

import threading


class MemoryBus:
    """A doorbell. Thread-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.rings = 0

    def notify(self) -> None:
        """Tell the worker that new events are durable in the store."""
        self.rings += 1
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a ring; True when one came."""
        rang = self._event.wait(timeout)
        self._event.clear()
        return rang
