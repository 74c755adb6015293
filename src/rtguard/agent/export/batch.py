"""A bounded queue in front of an exporter: events in, batches out, drops counted by reason.

``BatchProcessor.emit`` never blocks and never raises: when the queue is full the event is
dropped and counted (``queue_full``). A background thread hands batches of up to
``max_batch`` events to the exporter every ``interval`` seconds or as soon as a batch is full.
It must not encode, compress or send anything itself: that is the exporter's job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from rtguard.model.events import Event

_log = logging.getLogger(__name__)


class ExportResult(StrEnum):
    """What an exporter did with a batch."""

    SENT = "sent"
    QUEUED = "queued"  # handed to the exporter's sender thread, in memory
    SPOOLED = "spooled"
    DROPPED = "dropped"
    LEFT_OUT = "left_out"  # nothing to send: the exporter left every event out and counted why


class Exporter(Protocol):
    """Takes batches; ``export`` is called from one thread at a time and must not raise."""

    def export(self, events: Sequence[Event]) -> ExportResult: ...

    def shutdown(self) -> None: ...


class InMemoryExporter:
    """An exporter that keeps every batch in memory (tests and the offline recorder)."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []
        self._lock = threading.Lock()

    def export(self, events: Sequence[Event]) -> ExportResult:
        with self._lock:
            self.batches.append(list(events))
        return ExportResult.SENT

    def shutdown(self) -> None:
        return None

    @property
    def events(self) -> list[Event]:
        """Every exported event, in order."""
        with self._lock:
            return [e for b in self.batches for e in b]


class BatchProcessor:
    """Bounded queue plus flusher thread. ``emit`` is thread-safe.

    Args:
        exporter: where batches go.
        max_queue: events held at most; more are dropped (``queue_full``).
        max_batch: events per batch at most.
        interval: seconds between flushes when batches are not full.
    """

    def __init__(
        self, exporter: Exporter, *, max_queue: int = 65_536, max_batch: int = 1024, interval: float = 0.2
    ) -> None:
        self._exporter = exporter
        self._queue: deque[Event] = deque()
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._interval = interval
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # the flusher waits here for a full batch
        self._room = threading.Condition(lock)  # the producer waits here for room (wait_for_room)
        self._stopped = False
        self.dropped: Counter[str] = Counter()
        self.emitted = 0
        self.exported: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, name="rtguard-batch", daemon=True)
        self._thread.start()

    def emit(self, event: Event) -> None:
        """Queue one event; drop and count it when the queue is full or shut down."""
        with self._cond:
            if self._stopped:
                self.dropped["already_shutdown"] += 1
                return
            if len(self._queue) >= self._max_queue:
                self.dropped["queue_full"] += 1
                return
            self._queue.append(event)
            self.emitted += 1
            if len(self._queue) >= self._max_batch:
                self._cond.notify()

    def queued(self) -> int:
        """Events waiting in the queue."""
        with self._cond:
            return len(self._queue)

    def wait_for_room(self, room: int, timeout: float) -> bool:
        """Wait until ``room`` more events fit in the queue, at most ``timeout`` seconds.

        Returns True when they fit (or the processor is shut down: ``emit`` counts those). The
        agent's sensor pump calls this before it drains the kernel's ring: while the flusher
        catches up, a burst waits in the ring (whose overflow the kernel counts) instead of
        being dropped here after it was decoded.
        """
        room = min(room, max(1, self._max_queue // 2))  # a small queue still lets a poll through
        deadline = time.monotonic() + timeout
        with self._room:
            while not self._stopped and self._max_queue - len(self._queue) < room:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.notify()  # a full batch may already be waiting for the flusher
                self._room.wait(left)
            return True

    def _take(self) -> list[Event]:
        n = min(len(self._queue), self._max_batch)
        return [self._queue.popleft() for _ in range(n)]

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopped and len(self._queue) < self._max_batch:
                    self._cond.wait(self._interval)
                batch = self._take()
                stopping = self._stopped and not self._queue
                if batch:
                    self._room.notify_all()
            if batch:
                self._export(batch)
            if stopping:
                return

    def _export(self, batch: list[Event]) -> None:
        try:
            result = self._exporter.export(batch)
        except Exception:  # an exporter must not raise; if it does, count and go on
            _log.exception("exporter raised")
            result = ExportResult.DROPPED
        self.exported[result.value] += len(batch)
        if result is ExportResult.DROPPED:
            self.dropped["export_failed"] += len(batch)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Flush what is queued, stop the thread and shut the exporter down."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout)
        self._exporter.shutdown()
