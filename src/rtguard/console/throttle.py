"""A bounded, in-memory limit on failed console sign-ins per client address: after ``limit``
failures within ``window`` seconds further attempts from that address are refused until the
oldest failure leaves the window; a successful sign-in clears the address's record.

Thread-safe; memory is bounded (the least recently failing addresses are forgotten first).
Must not know HTTP or credentials: callers pass the address and say what happened.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["FailureThrottle"]


class FailureThrottle:
    """Counts failures per key in a sliding window."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("the sign-in limit needs at least one attempt and a positive window")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        now = self._clock()
        with self._lock:
            times = self._failures.get(key)
            if times is None:
                return 0.0
            while times and times[0] <= now - self._window:
                times.popleft()
            if not times:
                del self._failures[key]
                return 0.0
            return max(0.0, times[0] + self._window - now) if len(times) >= self._limit else 0.0

    def failed(self, key: str) -> None:
        """Record a failed attempt."""
        now = self._clock()
        with self._lock:
            times = self._failures.pop(key, None) or deque(maxlen=self._limit)
            times.append(now)
            self._failures[key] = times  # most recent last
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """Forget the key's failures."""
        with self._lock:
            self._failures.pop(key, None)
