"""Retention of findings: a background task that deletes every finding whose ``updatedAt`` is
older than N days (GuardDuty keeps findings for 90 days; so do we by default).

It only calls the store's delete and counts what it removed; it must not archive, publish or
touch anything but findings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from rtguard.store.lifecycle import LifecycleStore

__all__ = ["DEFAULT_RETENTION_DAYS", "RetentionTask"]

_log = logging.getLogger(__name__)
DEFAULT_RETENTION_DAYS: Final = 90
_DAY_MS: Final = 86_400_000


class RetentionTask:
    """Deletes expired findings every ``interval`` seconds on its own thread.

    Args:
        store: where findings live.
        days: findings not updated for this many days are deleted (must be at least 1).
        interval: seconds between passes (the first pass runs at ``start``).
        clock: wall-clock seconds (tests pass a fake one).
    """

    def __init__(
        self,
        store: LifecycleStore,
        days: int = DEFAULT_RETENTION_DAYS,
        *,
        interval: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if days < 1:
            raise ValueError("retention must be at least 1 day")
        self._store = store
        self.days = days
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.deleted = 0

    def run_once(self) -> int:
        """Delete the findings that expired by now; returns how many."""
        cutoff = int(self._clock() * 1000) - self.days * _DAY_MS
        removed = self._store.delete_findings_updated_before(cutoff)
        self.deleted += removed
        return removed

    def _run(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                _log.exception("retention pass failed")
            if self._stop.wait(self._interval):
                return

    def start(self) -> None:
        """Run passes in a background thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="rtguard-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def metrics_lines(self) -> list[str]:
        """Prometheus lines for the findings this task deleted."""
        return [
            "# HELP rtguard_findings_expired_total Findings deleted by retention.",
            "# TYPE rtguard_findings_expired_total counter",
            f"rtguard_findings_expired_total {self.deleted}",
        ]
