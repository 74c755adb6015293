"""The detection worker: events → detection → findings → store. The one module that joins them.

Embedded mode: it tails the durable event log from its cursor (woken by the bus), decodes each
event, runs the engine, builds GuardDuty-shaped findings and upserts them under the aggregation
key, then advances the cursor; after a crash it resumes at the cursor, so every acked event is
detected once. Scale-out mode (a bus that carries events, :class:`~rtguard.bus.base.EventStream`):
it fetches messages from the durable consumer, stores each message's findings in one transaction
keyed by the message (a redelivery changes nothing), and only then acks; a failure naks the
message for a later redelivery. A bad event or a failing rule is counted and skipped, never
fatal. It must not serve HTTP or know how events arrived.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from rtguard.bus.base import BusError, BusMessage, Doorbell, EventStream, partition_key
from rtguard.coverage.monitor import read_settings
from rtguard.detect.detector import EngineState
from rtguard.detect.detectors.threatintel import IntelLookup, intel_scope
from rtguard.detect.engine import Engine
from rtguard.findings.build import FindingContext, build_finding, finding_id, iso_time
from rtguard.model.codec import CodecError, JsonDict, decode_event
from rtguard.model.events import Event
from rtguard.store.base import FindingUpsert

_log = logging.getLogger(__name__)
CURSOR: Final = "detect"
DETECTOR_TTL_S: Final = 5.0
APPLIED_KEEP: Final = timedelta(days=7)  # how long a bus message's key stops a second application
PRUNE_EVERY_S: Final = 3600.0

FindingListener = Callable[[JsonDict, bool], None]


class WorkerStore(Protocol):
    """The part of the store the worker needs."""

    def events_after(self, cursor_id: int, limit: int) -> Sequence[tuple[int, str, str]]: ...

    def get_cursor(self, name: str) -> int: ...

    def set_cursor(self, name: str, cursor_id: int) -> None: ...

    def list_detectors(self, account_id: str) -> list[str]: ...

    def get_detector(self, account_id: str, detector_id: str) -> dict[str, Any] | None: ...

    def upsert_finding(
        self, account_id: str, detector_id: str, finding_id: str, doc: Mapping[str, Any], seen_at: str
    ) -> tuple[JsonDict, bool]: ...

    def apply_findings_once(
        self, message_key: str, upserts: Sequence[FindingUpsert]
    ) -> list[tuple[JsonDict, bool]] | None: ...

    def prune_applied(self, older_than: datetime) -> int: ...


class DetectionWorker:
    """Runs detection over the stored event log. ``run_once`` is not thread-safe; ``start``
    runs it on one background thread.

    Args:
        store: the durable log and finding store.
        engine: the detection engine; detector state is kept per container (or host for
            host processes), bounded to ``max_partitions`` (least recently used go first).
        bus: rings when new events are durable in the store's log (embedded), or carries the
            events itself (an :class:`~rtguard.bus.base.EventStream`: scale-out).
        region: the region findings are created in.
        listeners: called with (finding document, created?) after each upsert.
        admit: called with each new finding document before its upsert (suppression filters
            archive it there); None stores documents as built.
        intel: the detector's user threat lists and trusted IPs by detector id (an
            ``IntelView``), put in scope for the threat-intel detector during evaluation.
    """

    def __init__(
        self,
        store: WorkerStore,
        engine: Engine,
        bus: Doorbell | EventStream,
        *,
        region: str,
        agent_version: str = "",
        batch: int = 2000,
        fetch: int = 64,
        store_retries: int = 3,
        listeners: tuple[FindingListener, ...] = (),
        max_partitions: int = 10_000,
        admit: Callable[[JsonDict], JsonDict] | None = None,
        intel: Callable[[str], IntelLookup] | None = None,
    ) -> None:
        self._intel = intel
        self._store = store
        self._engine = engine
        self._states: OrderedDict[str, EngineState] = OrderedDict()
        self._max_partitions = max_partitions
        self._bus = bus
        # Checked once: an isinstance against a Protocol per event would cost the hot path.
        self._recall = None if isinstance(bus, EventStream) else bus.recall
        self._region = region
        self._agent_version = agent_version
        self._batch = batch
        self._fetch = fetch
        self._store_retries = store_retries
        self._listeners = listeners
        self._admit = admit
        self._detectors: dict[str, tuple[float, str | None, bool]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters: Counter[str] = Counter()
        self.findings_by_type: Counter[str] = Counter()

    def _detector(self, account_id: str) -> tuple[str | None, bool]:
        """The account's detector and whether Runtime Monitoring is on; re-read every few
        seconds so that DeleteDetector, CreateDetector and UpdateDetector take effect."""
        now = time.monotonic()
        cached = self._detectors.get(account_id)
        if cached is not None and now - cached[0] < DETECTOR_TTL_S:
            return cached[1], cached[2]
        det, settings = read_settings(self._store, account_id)
        on = settings.runtime
        self._detectors[account_id] = (now, det, on)
        return det, on

    def run_once(self) -> int:
        """Process the next slice of the log; return the number of events processed."""
        cursor = self._store.get_cursor(CURSOR)
        rows = self._store.events_after(cursor, self._batch)
        for event_id, account_id, line in rows:
            self._process(account_id, line)
            cursor = event_id
        if rows:
            self._store.set_cursor(CURSOR, cursor)
            self.counters["events_processed"] += len(rows)
        return len(rows)

    def _process(self, account_id: str, line: str) -> None:
        event = self._recall(line) if self._recall is not None else None
        if event is None:
            try:
                event = decode_event(json.loads(line))
            except (ValueError, CodecError):
                self.counters["decode_errors"] += 1
                return
        for upsert, ftype in self._detect(account_id, event):
            stored, created = self._store.upsert_finding(*upsert)
            self._stored(ftype, stored, created)

    def handle_message(self, message: BusMessage) -> bool:
        """Detect over one bus message and store its findings once per message key.

        Returns:
            False when the message's findings were applied before (a redelivery).

        Raises:
            Exception: the store failed; nothing of this message is stored (nak it).
        """
        return self._apply(message, self._detect_message(message))

    def _detect_message(self, message: BusMessage) -> list[tuple[FindingUpsert, str]]:
        pending: list[tuple[FindingUpsert, str]] = []
        for data in message.events:
            try:
                event = decode_event(data)
            except (ValueError, CodecError):
                self.counters["decode_errors"] += 1
                continue
            pending += self._detect(message.account_id, event)
        self.counters["events_processed"] += len(message.events)
        return pending

    def _apply(self, message: BusMessage, pending: list[tuple[FindingUpsert, str]]) -> bool:
        if not pending:
            return True
        results = self._store.apply_findings_once(message.key, [u for u, _t in pending])
        if results is None:
            self.counters["messages_already_applied"] += 1
            return False
        for (_u, ftype), (stored, created) in zip(pending, results, strict=True):
            self._stored(ftype, stored, created)
        return True

    def _stored(self, finding_type: str, stored: JsonDict, created: bool) -> None:
        self.findings_by_type[finding_type] += 1
        for listener in self._listeners:
            try:
                listener(stored, created)
            except Exception:
                _log.exception("finding listener raised")
                self.counters["listener_errors"] += 1

    def _detect(self, account_id: str, event: Event) -> list[tuple[FindingUpsert, str]]:
        """Evaluate one event; the upserts of its findings with their types (nothing stored)."""
        key = partition_key(event)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = self._engine.new_state()
            if len(self._states) > self._max_partitions:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(key)
        try:
            if self._intel is None:
                detections = self._engine.evaluate(event, state)
            else:
                det_id, _on = self._detector(account_id)
                with intel_scope(self._intel(det_id) if det_id is not None else None):
                    detections = self._engine.evaluate(event, state)
        except Exception:
            _log.exception("engine raised")
            self.counters["engine_errors"] += 1
            return []
        if not detections:
            return []
        detector, monitoring = self._detector(account_id)
        if detector is None:
            self.counters["no_detector"] += len(detections)
            return []
        if not monitoring:
            self.counters["monitoring_disabled"] += len(detections)
            return []
        ctx = FindingContext(
            account_id=account_id,
            region=self._region,
            detector_id=detector,
            agent_version=self._agent_version,
        )
        upserts: list[tuple[FindingUpsert, str]] = []
        for det in detections:
            doc = build_finding(ctx, det, now_ns=time.time_ns())
            fid = finding_id(detector, det)
            if self._admit is not None:
                doc = self._admit(doc)
            upserts.append(
                (FindingUpsert(account_id, detector, fid, doc, iso_time(event.time)), det.finding_type)
            )
        return upserts

    def run_stream_once(self, stream: EventStream, timeout: float = 0.5) -> int:
        """Fetch and handle one round of messages; returns how many were fetched.

        Each message is acked after its findings are stored. When storing fails it is retried
        in place a few times (the message kept in progress), so a short store outage keeps each
        partition's order; after that, it and the rest of the round are nak'ed, in order, and
        delivered again a second later.

        Raises:
            BusError: the bus is unreachable.
        """
        messages = stream.fetch(self._fetch, timeout)
        for index, message in enumerate(messages):
            if message.delivery > 1:
                self.counters["redeliveries"] += 1
            if not self._store_with_retries(stream, message, self._detect_message(message)):
                for rest in messages[index:]:
                    stream.nak(rest, 1.0)
                break
            stream.ack(message)
        return len(messages)

    def _store_with_retries(
        self, stream: EventStream, message: BusMessage, pending: list[tuple[FindingUpsert, str]]
    ) -> bool:
        delay = 0.2
        for attempt in range(self._store_retries + 1):
            try:
                self._apply(message, pending)
                return True
            except Exception:
                _log.exception("storing the findings of bus message %s failed", message.key)
                self.counters["store_failures"] += 1
            if attempt == self._store_retries or self._stop.is_set():
                return False
            stream.in_progress(message)  # not redelivered elsewhere while we retry
            stream.wait(delay)
            delay = min(delay * 2, 2.0)
        return False

    def prune(self) -> int:
        """Forget applied message keys older than :data:`APPLIED_KEEP`; returns how many."""
        pruned = self._store.prune_applied(datetime.now(UTC) - APPLIED_KEEP)
        self.counters["applied_keys_pruned"] += pruned
        return pruned

    def _run_stream(self, stream: EventStream) -> None:
        next_prune = time.monotonic() + PRUNE_EVERY_S
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY_S
                    self.prune()
                self.run_stream_once(stream)
            except BusError as exc:
                _log.warning("event bus: %s; retrying", exc)
                self.counters["bus_errors"] += 1
                stream.wait(1.0)
            except Exception:
                _log.exception("detection pass failed; retrying")
                self.counters["pass_errors"] += 1
                stream.wait(0.5)

    def _run(self) -> None:
        if isinstance(self._bus, EventStream):
            self._run_stream(self._bus)
            return
        while not self._stop.is_set():
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
            except Exception:
                _log.exception("detection pass failed; retrying")
                self.counters["pass_errors"] += 1
                time.sleep(0.5)
            self._bus.wait(0.5)

    def start(self) -> None:
        """Run in a background thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="rtguard-detect", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (what was processed is committed)."""
        self._stop.set()
        self._bus.notify()
        if self._thread is not None:
            self._thread.join(10)
