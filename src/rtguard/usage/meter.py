"""``UsageMeter``: the imperative shell of metering. For each agent heartbeat (after coverage
decided whether its resource is monitored) it runs the pure accrual inside one store transaction
and counts the outcome and the credited vCPU-seconds per feature for ``/metrics``.

It never raises into the heartbeat path: a store failure is counted (outcome ``error``, or
``prune_errors`` for the hourly clean-up) and logged.
Must not decide what is billed (``accrual``), price anything (``pricing``) or serve HTTP.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final, Protocol

from rtguard.store.usage import Accrual, UsageCursor
from rtguard.usage.accrual import Feature, Observation, Outcome, accrue, observe

__all__ = ["UsageMeter", "UsageStore", "metering_hook"]

_log = logging.getLogger(__name__)
PRUNE_EVERY: Final = 3600.0  # seconds between prunes of old cursors and hours
CURSOR_TTL: Final = 24 * 3600.0  # a cursor this old can only credit nothing (timeout ≪ a day)
KEEP_HOURS: Final = 90 * 24 * 3600.0  # hourly usage kept 90 days (the API reads 30)


class UsageStore(Protocol):
    """The store methods the meter uses."""

    def accrue_usage(
        self, agent_id: str, step: Callable[[UsageCursor | None, float | None], Accrual]
    ) -> Accrual: ...

    def prune_usage(self, *, cursors_before: float, hours_before: float) -> tuple[int, int]: ...


class UsageMeter:
    """Meters monitored vCPU-seconds from heartbeats.

    Thread-safe: :meth:`on_heartbeat` runs on request threads; the store serialises the
    accrual per call and the counters are behind a lock.

    Args:
        store: where cursors and credits live.
        timeout: the agent timeout in seconds (the coverage one): the most one interval credits.
        clock: "now" in epoch seconds (tests pass a fake clock).
    """

    def __init__(
        self, store: UsageStore, *, timeout: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._vcpu_seconds: dict[str, float] = {f.value: 0.0 for f in Feature}
        self._outcomes: Counter[str] = Counter()
        self._pruned_at: float | None = None
        self._trials: set[tuple[str, str]] = set()  # (account, feature) whose trial is saved
        self.prune_errors = 0

    def on_heartbeat(self, account_id: str, beat: Mapping[str, Any], *, monitored: bool) -> str:
        """Meter one heartbeat; returns the outcome (an ``Outcome`` value, or ``"error"``)."""
        agent_id = beat.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id or len(agent_id) > 128:
            return self._count("bad_agent_id")
        obs = observe(account_id, beat, monitored=monitored)
        now = self._clock()
        try:
            result = self._store.accrue_usage(agent_id, lambda prev, mark: self._step(prev, mark, obs, now))
        except Exception:
            _log.exception("usage metering failed", extra={"agent_id": agent_id[:128]})
            return self._count("error")
        self._maybe_prune(now)
        with self._lock:
            if result.trial is not None:
                self._trials.add(result.trial[:2])
            for credit in result.credits:
                self._vcpu_seconds[credit.feature] = (
                    self._vcpu_seconds.get(credit.feature, 0.0) + credit.vcpu_seconds
                )
        return self._count(result.outcome)

    def _step(self, prev: UsageCursor | None, mark: float | None, obs: Observation, now: float) -> Accrual:
        result = accrue(prev, mark, obs, now=now, timeout=self.timeout)
        with self._lock:
            known = result.trial is not None and result.trial[:2] in self._trials
        # A trial already saved needs no look-up in the store (one query less per heartbeat).
        return replace(result, trial=None) if known else result

    def _maybe_prune(self, now: float) -> None:
        with self._lock:
            due = self._pruned_at is None or abs(now - self._pruned_at) >= PRUNE_EVERY
            if due:
                self._pruned_at = now
        if not due:
            return
        try:
            self._store.prune_usage(cursors_before=now - CURSOR_TTL, hours_before=now - KEEP_HOURS)
        except Exception:
            with self._lock:
                self.prune_errors += 1
            _log.exception("usage pruning failed")

    def _count(self, outcome: str) -> str:
        with self._lock:
            self._outcomes[outcome] += 1
        return outcome

    def vcpu_seconds(self) -> dict[str, float]:
        """Monitored vCPU-seconds credited since start, by feature."""
        with self._lock:
            return dict(self._vcpu_seconds)

    def outcomes(self) -> dict[str, int]:
        """Heartbeats metered since start, by outcome (``credited``, ``duplicate``, ``error``, …)."""
        with self._lock:
            return dict(self._outcomes)

    @staticmethod
    def outcome_names() -> tuple[str, ...]:
        """Every outcome the meter can count (so ``/metrics`` shows zeros too)."""
        return (*(o.value for o in Outcome), "bad_agent_id", "error")


HeartbeatAnswer = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def metering_hook(coverage_hook: HeartbeatAnswer, meter: UsageMeter) -> HeartbeatAnswer:
    """A heartbeat hook that answers with ``coverage_hook`` and then meters the heartbeat as
    monitored when that answer said ``enabled`` (monitoring on, resource not excluded)."""

    def hook(account_id: str, beat: Mapping[str, Any]) -> dict[str, Any]:
        answer = coverage_hook(account_id, beat)
        meter.on_heartbeat(account_id, beat, monitored=answer.get("enabled") is True)
        return answer

    return hook
