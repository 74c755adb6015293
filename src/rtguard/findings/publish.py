"""Publishing findings to destinations: a ``Publisher`` that sends new findings at once and
updates at the detector's ``findingPublishingFrequency``, and one ``_Outlet`` per destination
with a bounded queue and its own thread, retries with exponential backoff, and counters of
what was published, what failed (``destination``, ``reason``) and what was dropped (``reason``).

A slow or dead destination never blocks detection or other destinations: ``submit`` only
enqueues, and a full queue drops and counts. Must not decide *which* findings are published
(suppression is ``lifecycle``'s) or know how a destination talks to the world (``outputs``).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from rtguard.findings.formats import FORMATTERS, PayloadFormat

__all__ = [
    "FREQUENCIES",
    "Destination",
    "OutletSpec",
    "PublishError",
    "PublishStats",
    "Publisher",
]

_log = logging.getLogger(__name__)

# findingPublishingFrequency → seconds between update flushes. IMMEDIATE is rtguard's own.
FREQUENCIES: Final[Mapping[str, float]] = {
    "IMMEDIATE": 0.0,
    "FIFTEEN_MINUTES": 15 * 60.0,
    "ONE_HOUR": 60 * 60.0,
    "SIX_HOURS": 6 * 60 * 60.0,
}
_DEFAULT_FREQUENCY: Final = "SIX_HOURS"


class PublishError(Exception):
    """A destination could not take a payload; ``reason`` is a short, bounded metric label."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class Destination(Protocol):
    """Where payloads go. ``send`` is called from the destination's own thread only."""

    label: str

    def send(self, payload: dict[str, Any]) -> None:
        """Deliver one payload, or raise :class:`PublishError`."""
        ...

    def close(self) -> None:
        """Release sockets and files."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OutletSpec:
    """A destination with its payload format; ``detector_id`` None means every detector."""

    destination: Destination
    format: PayloadFormat
    detector_id: str | None = None


class PublishStats:
    """Thread-safe counters, labelled as in ``/metrics``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.published: Counter[str] = Counter()
        self.failures: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()

    def count(self, which: str, destination: str, reason: str = "") -> None:
        """Add one to ``published`` (no reason), ``failures`` or ``dropped``."""
        with self._lock:
            if which == "published":
                self.published[destination] += 1
            elif which == "failures":
                self.failures[(destination, reason)] += 1
            else:
                self.dropped[(destination, reason)] += 1

    def snapshot(self) -> tuple[dict[str, int], dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        """Copies of (published, failures, dropped)."""
        with self._lock:
            return dict(self.published), dict(self.failures), dict(self.dropped)


@dataclass(frozen=True, slots=True)
class _Item:
    doc: Mapping[str, Any]
    created: bool
    event_id: str
    raw: Mapping[str, Any] | None = None  # a ready EventBridge event (coverage changes)


_STOP: Final = object()
StatusCallback = Callable[[str, int | None], None]


class _Outlet:
    """One destination's queue and sender thread."""

    def __init__(
        self,
        key: str,
        spec: OutletSpec,
        stats: PublishStats,
        *,
        queue_size: int,
        max_attempts: int,
        backoff: float,
        on_status: StatusCallback | None,
    ) -> None:
        self.key = key
        self.spec = spec
        self._stats = stats
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._on_status = on_status
        self._failing_since: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rtguard-publish-{key}", daemon=True)
        self._thread.start()

    @property
    def label(self) -> str:
        return self.spec.destination.label

    def offer(self, item: _Item) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._stats.count("dropped", self.label, "queue_full")

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)
        self._thread.join(timeout)
        self.spec.destination.close()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _STOP:
                return
            assert isinstance(item, _Item)
            if self._stop.is_set():
                self._stats.count("dropped", self.label, "shutdown")
                continue
            self._deliver(item)

    def _deliver(self, item: _Item) -> None:
        if item.raw is not None:
            # Coverage events are EventBridge events already; OCSF has no class for them.
            if self.spec.format is PayloadFormat.OCSF:
                return
            self._send(dict(item.raw))
            return
        formatter = FORMATTERS[self.spec.format]
        try:
            payload = formatter(item.doc, event_id=item.event_id, created=item.created)
        except Exception:
            _log.exception("payload formatting failed", extra={"destination": self.label})
            self._stats.count("dropped", self.label, "format_error")
            return
        self._send(payload)

    def _send(self, payload: dict[str, Any]) -> None:
        for attempt in range(self._max_attempts):
            try:
                self.spec.destination.send(payload)
            except PublishError as exc:
                self._stats.count("failures", self.label, exc.reason)
                self._set_failing(True)
                if attempt + 1 < self._max_attempts and self._stop.wait(min(5.0, self._backoff * 2**attempt)):
                    break
                continue
            except Exception:
                _log.exception("destination raised", extra={"destination": self.label})
                self._stats.count("failures", self.label, "internal")
                self._set_failing(True)
                continue
            self._stats.count("published", self.label)
            self._set_failing(False)
            return
        self._stats.count("dropped", self.label, "retries_exhausted")

    def _set_failing(self, failing: bool) -> None:
        changed = (self._failing_since is None) == failing
        if not changed:
            return
        self._failing_since = int(time.time() * 1000) if failing else None
        if self._on_status is not None:
            try:
                self._on_status(self.key, self._failing_since)
            except Exception:
                _log.exception("publishing status callback raised")


class Publisher:
    """Fans findings out to outlets: new findings at once, updates per detector frequency.

    Thread-safe. ``start`` runs the update timer; ``stop`` closes every outlet.

    Args:
        frequency_of: a detector's ``findingPublishingFrequency`` (None: unknown → default).
        queue_size: bound of each outlet's queue; beyond it payloads are dropped and counted.
        max_attempts: sends per payload before it is dropped as ``retries_exhausted``.
        backoff: first retry delay in seconds (doubles per attempt, at most 5 s).
        on_status: told ``(outlet key, failing since epoch ms or None)`` when an outlet starts
            or stops failing.
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        frequency_of: Callable[[str], str | None],
        queue_size: int = 1024,
        max_attempts: int = 5,
        backoff: float = 0.2,
        on_status: StatusCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._frequency_of = frequency_of
        self._queue_size = queue_size
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._on_status = on_status
        self._clock = clock
        self._lock = threading.Lock()
        self._outlets: dict[str, _Outlet] = {}
        self._pending: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._last_flush: dict[str, float] = {}
        self._frequency_cache: dict[str, tuple[float, str]] = {}
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self.stats = PublishStats()

    # -- outlets -----------------------------------------------------------------------------------

    def set_outlets(self, specs: Mapping[str, OutletSpec]) -> None:
        """Make the outlets exactly ``specs`` (by key): new keys start, missing keys stop.

        An existing key keeps its outlet (and queue) unless its spec object changed.
        """
        with self._lock:
            stale = [k for k, o in self._outlets.items() if specs.get(k) is not o.spec]
            closing = [self._outlets.pop(k) for k in stale]
            for key, spec in specs.items():
                if key not in self._outlets:
                    self._outlets[key] = _Outlet(
                        key,
                        spec,
                        self.stats,
                        queue_size=self._queue_size,
                        max_attempts=self._max_attempts,
                        backoff=self._backoff,
                        on_status=self._on_status,
                    )
        for outlet in closing:
            outlet.close()

    def outlet_keys(self) -> list[str]:
        """Keys of the running outlets."""
        with self._lock:
            return sorted(self._outlets)

    # -- findings ----------------------------------------------------------------------------------

    def _frequency(self, detector_id: str) -> str:
        now = self._clock()
        cached = self._frequency_cache.get(detector_id)
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        value = self._frequency_of(detector_id) or _DEFAULT_FREQUENCY
        self._frequency_cache[detector_id] = (now, value)
        return value

    def submit(self, doc: Mapping[str, Any], created: bool) -> None:
        """Publish a finding: now if it is new (or the detector says IMMEDIATE), else at the
        detector's next update flush (the latest version of each finding wins)."""
        detector_id = str(doc.get("service", {}).get("detectorId", ""))
        if created or FREQUENCIES.get(self._frequency(detector_id), 0.0) == 0.0:
            self._fan_out(detector_id, doc, created)
            return
        with self._lock:
            self._pending[(detector_id, str(doc.get("id", "")))] = doc
            self._last_flush.setdefault(detector_id, self._clock())

    def submit_event(self, event: Mapping[str, Any]) -> None:
        """Publish a ready EventBridge event (a coverage status change) to every outlet that
        takes EventBridge or finding payloads, at once."""
        item = _Item(doc={}, created=True, event_id=str(event.get("id", uuid.uuid4())), raw=event)
        with self._lock:
            outlets = list(self._outlets.values())
        for outlet in outlets:
            outlet.offer(item)

    def _fan_out(self, detector_id: str, doc: Mapping[str, Any], created: bool) -> None:
        item = _Item(doc=doc, created=created, event_id=str(uuid.uuid4()))
        with self._lock:
            outlets = [o for o in self._outlets.values() if o.spec.detector_id in (None, detector_id)]
        for outlet in outlets:
            outlet.offer(item)

    def flush_updates(self, *, force: bool = False) -> int:
        """Send the pending updates of every detector whose interval has passed (all if
        ``force``); returns how many findings were sent."""
        now = self._clock()
        due: list[tuple[str, Mapping[str, Any]]] = []
        with self._lock:
            detectors = {d for d, _ in self._pending}
        ready = {
            d
            for d in detectors
            if force or now - self._last_flush.get(d, now) >= FREQUENCIES.get(self._frequency(d), 0.0)
        }
        with self._lock:
            for key in [k for k in self._pending if k[0] in ready]:
                due.append((key[0], self._pending.pop(key)))
            for d in ready:
                self._last_flush[d] = now
        for detector_id, doc in due:
            self._fan_out(detector_id, doc, False)
        return len(due)

    def pending_updates(self) -> int:
        """Updates waiting for their detector's next flush."""
        with self._lock:
            return len(self._pending)

    # -- lifecycle ---------------------------------------------------------------------------------

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.flush_updates()
            except Exception:
                _log.exception("update flush failed")

    def start(self) -> None:
        """Start the update-flush timer."""
        self._timer = threading.Thread(target=self._tick, name="rtguard-publish-timer", daemon=True)
        self._timer.start()

    def stop(self) -> None:
        """Stop the timer and every outlet (queued payloads are dropped as ``shutdown``)."""
        self._stop.set()
        if self._timer is not None:
            self._timer.join(5)
        self.set_outlets({})
