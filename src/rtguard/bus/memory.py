"""The embedded server's bus: a doorbell from ingest to the detection worker.

In the embedded mode the store is the durable log: ingest writes a batch durably, then rings
this bell; the detection worker wakes and reads the store from its cursor, so nothing acked is
ever lost, even across a crash. The bell carries no events, so it cannot overflow or drop. It
must not hold data: the scale-out mode replaces it with NATS JetStream, which carries events.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Final

from rtguard.model.events import Event

_CACHE_MAX: Final = 16_384  # decoded events are a few KB each: bound the memory, a miss only re-decodes


class MemoryBus:
    """A doorbell. Thread-safe."""

    def __init__(self, cache_max: int = _CACHE_MAX) -> None:
        self._event = threading.Event()
        self.rings = 0
        self._decoded: OrderedDict[str, Event] = OrderedDict()
        self._cache_max = cache_max
        self._lock = threading.Lock()
        self.recalled = 0

    def remember(self, pairs: Iterable[tuple[str, Event]]) -> None:
        """Keep decoded events by their stored line (oldest forgotten first past the bound)."""
        with self._lock:
            self._decoded.update(pairs)
            while len(self._decoded) > self._cache_max:
                self._decoded.popitem(last=False)

    def recall(self, line: str) -> Event | None:
        """The decoded event stored as ``line``, once; None when not (or no longer) kept."""
        with self._lock:
            event = self._decoded.pop(line, None)
        if event is not None:
            self.recalled += 1
        return event

    def batch_stored(
        self,
        account_id: str,
        agent_id: str,
        seq: int,
        lines: Sequence[str],
        events: Sequence[Event],
        *,
        new: bool,
    ) -> None:
        """A batch is durable in the store: keep its decoded events and ring (a retry: nothing to do)."""
        if new:
            self.remember(zip(lines, events, strict=True))
            self.notify()

    def notify(self) -> None:
        """Tell the worker that new events are durable in the store."""
        self.rings += 1
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a ring; True when one came."""
        rang = self._event.wait(timeout)
        self._event.clear()
        return rang
