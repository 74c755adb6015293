"""``CoverageMonitor``: the imperative shell of coverage. It answers agent heartbeats (saves them
and says whether the agent's resource is monitored), recomputes every account's coverage on a
short interval (and at once when a new agent appears), saves it, and publishes each status change
as a "GuardDuty Runtime Protection Healthy/Unhealthy" event to its listeners.

Listeners are plain callables given at construction (the findings publisher of issue 5 can be
one); a failing listener is counted and logged, never allowed to stop the monitor. This module
must not compute coverage itself (``compute``) or serve HTTP (``ingest`` and ``api`` do).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from rtguard.coverage.compute import HEALTHY, agent_decision, compute_coverage
from rtguard.coverage.enablement import RuntimeSettings
from rtguard.store.coverage import AgentRecord, CoverageChange, InventoryRecord

__all__ = ["CoverageConfig", "CoverageEventListener", "CoverageMonitor", "CoverageStore", "coverage_event"]

_log = logging.getLogger(__name__)
_RECENT: Final = 256

CoverageEventListener = Callable[[dict[str, Any]], None]


class CoverageStore(Protocol):
    """The store methods the monitor uses."""

    def list_detectors(self, account_id: str) -> list[str]: ...

    def get_detector(self, account_id: str, detector_id: str) -> dict[str, Any] | None: ...

    def record_heartbeat(
        self, account_id: str, agent_id: str, beat: Mapping[str, Any], *, enabled: bool, now: float
    ) -> bool: ...

    def list_agents(self, account_id: str) -> list[AgentRecord]: ...

    def forget_agents(self, last_seen_before: float) -> int: ...

    def list_inventory(self, account_id: str) -> list[InventoryRecord]: ...

    def coverage_accounts(self) -> list[str]: ...

    def save_coverage(
        self, account_id: str, detector_id: str, resources: Sequence[Mapping[str, Any]], now: float
    ) -> list[CoverageChange]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageConfig:
    """Timing of coverage: when an agent counts as not reporting, how often to recompute, when a
    silent agent is forgotten, and the region named in events."""

    agent_timeout: float = 60.0
    interval: float = 1.0
    forget_after: float = 24 * 3600.0
    region: str = "us-east-1"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def coverage_event(change: CoverageChange, region: str, now: float) -> dict[str, Any]:
    """The EventBridge event for a coverage status change (reference §3b)."""
    healthy = change.current == HEALTHY
    res = change.resource
    details = res.get("resourceDetails") or {}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": f"GuardDuty Runtime Protection {'Healthy' if healthy else 'Unhealthy'}",
        "source": "aws.guardduty",
        "account": change.account_id,
        "time": _iso(now),
        "region": region,
        "resources": [],
        "detail": {
            "schemaVersion": "1.0",
            "resourceAccountId": change.account_id,
            "currentStatus": change.current,
            "previousStatus": change.previous,
            "resourceDetails": dict(details),
            "issue": res.get("issue") or "",
            "lastUpdatedAt": _iso(float(res.get("updatedAt") or now)),
        },
    }


class DetectorReader(Protocol):
    """The two store calls that tell an account's detector and its features."""

    def list_detectors(self, account_id: str) -> list[str]: ...

    def get_detector(self, account_id: str, detector_id: str) -> dict[str, Any] | None: ...


def read_settings(store: DetectorReader, account_id: str) -> tuple[str | None, RuntimeSettings]:
    """The account's (first) detector id and its Runtime Monitoring switches (all off when the
    account has no detector or the detector is disabled)."""
    detector_ids = store.list_detectors(account_id)
    if not detector_ids:
        return None, RuntimeSettings()
    detector = store.get_detector(account_id, detector_ids[0]) or {}
    enabled = detector.get("status", "ENABLED") == "ENABLED"
    return detector_ids[0], RuntimeSettings.from_features(detector.get("features"), enabled)


class CoverageMonitor:
    """Heartbeat answers, periodic coverage recomputation and change events.

    Thread-safe: :meth:`on_heartbeat` runs on request threads, :meth:`tick` on the monitor thread
    (or a test's); ticks are serialised by a lock.
    """

    def __init__(
        self,
        store: CoverageStore,
        config: CoverageConfig | None = None,
        listeners: Sequence[CoverageEventListener] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.config = config or CoverageConfig()
        self._listeners = list(listeners)
        self._clock = clock
        self._tick_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters: Counter[str] = Counter()
        self.recent_events: deque[dict[str, Any]] = deque(maxlen=_RECENT)

    def add_listener(self, listener: CoverageEventListener) -> None:
        """Publish future coverage events to ``listener`` too."""
        self._listeners.append(listener)

    def settings(self, account_id: str) -> tuple[str | None, RuntimeSettings]:
        """The account's (first) detector id and its Runtime Monitoring settings."""
        return read_settings(self._store, account_id)

    def on_heartbeat(self, account_id: str, beat: Mapping[str, Any]) -> dict[str, Any]:
        """Save a heartbeat; return the answer's additions: ``enabled`` and, when disabled, ``reason``."""
        _detector, settings = self.settings(account_id)
        decision = agent_decision(settings, beat, self._store.list_inventory(account_id))
        agent_id = str(beat.get("agent_id", ""))
        new = self._store.record_heartbeat(
            account_id, agent_id, beat, enabled=decision.monitored, now=self._clock()
        )
        if new:
            self._wake.set()  # a new agent makes its resource HEALTHY without waiting a full interval
        answer: dict[str, Any] = {"enabled": decision.monitored}
        if not decision.monitored:
            answer["reason"] = decision.issue
        return answer

    def tick(self) -> list[CoverageChange]:
        """Recompute and save every account's coverage; publish and return the status changes."""
        with self._tick_lock:
            now = self._clock()
            self._store.forget_agents(now - self.config.forget_after)
            changes: list[CoverageChange] = []
            for account_id in self._store.coverage_accounts():
                detector_id, settings = self.settings(account_id)
                if detector_id is None:
                    continue
                resources = compute_coverage(
                    account_id=account_id,
                    detector_id=detector_id,
                    settings=settings,
                    agents=self._store.list_agents(account_id),
                    inventory=self._store.list_inventory(account_id),
                    now=now,
                    timeout=self.config.agent_timeout,
                )
                changes.extend(self._store.save_coverage(account_id, detector_id, resources, now))
            for change in changes:
                self._publish(coverage_event(change, self.config.region, now))
            return changes

    def wake(self) -> None:
        """Recompute now instead of at the next interval (new inventory, new agent)."""
        self._wake.set()

    def _publish(self, event: dict[str, Any]) -> None:
        self.recent_events.append(event)
        self.counters["events_published"] += 1
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                self.counters["listener_errors"] += 1
                _log.exception("coverage listener failed", extra={"detail_type": event["detail-type"]})

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                self.counters["tick_errors"] += 1
                _log.exception("coverage tick failed")
            self._wake.wait(self.config.interval)
            self._wake.clear()

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rtguard-coverage", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
