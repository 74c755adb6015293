"""The interface the detection side uses for threat intelligence: an immutable ``IntelView``
built from a detector's ACTIVE lists (IPSets are trusted addresses that never produce
findings; ThreatIntelSets are threat addresses and domains) and a ``StoreIntelProvider`` that
keeps one view per detector fresh from the store.

Look-ups are pure and fast (per-prefix-length hash tables for networks, most specific
first, see ``nettable``; suffix walk for domains). Must not fetch lists (``load``) or build findings (the detect engine will).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from rtguard.intel.nettable import NetworkTable, parse_address
from rtguard.intel.parse import IntelEntries
from rtguard.store.lifecycle import IntelKind, IntelSetRecord, LifecycleStore

__all__ = ["IntelView", "StoreIntelProvider", "ThreatMatch"]


@dataclass(frozen=True, slots=True)
class ThreatMatch:
    """A hit: which list (its name and id) and which entry matched."""

    list_name: str
    list_id: str
    entry: str


class IntelView:
    """Trusted and threat entries of one detector. Immutable after construction; thread-safe."""

    def __init__(self, records: Iterable[IntelSetRecord] = ()) -> None:
        self._trusted: NetworkTable[ThreatMatch] = NetworkTable()
        self._threat_networks: NetworkTable[ThreatMatch] = NetworkTable()
        self._threat_domains: dict[str, ThreatMatch] = {}
        self.list_count = 0
        for record in records:
            if record.status != "ACTIVE":
                continue
            self.list_count += 1
            entries = IntelEntries.from_json(record.entries)
            trusted = record.kind is IntelKind.IP_SET
            for cidr in entries.networks:
                match = ThreatMatch(record.name, record.set_id, cidr)
                (self._trusted if trusted else self._threat_networks).add(cidr, match)
            if not trusted:
                for domain in entries.domains:
                    self._threat_domains.setdefault(domain, ThreatMatch(record.name, record.set_id, domain))

    def is_trusted(self, ip: str) -> bool:
        """True when an IPSet covers ``ip`` (no finding may be raised for it)."""
        address = parse_address(ip)
        return address is not None and self._trusted.find(address) is not None

    def threat_ip(self, ip: str) -> ThreatMatch | None:
        """The ThreatIntelSet entry covering ``ip``; None when none does or the IP is trusted."""
        address = parse_address(ip)
        if address is None or self._trusted.find(address) is not None:
            return None
        return self._threat_networks.find(address)

    def threat_domain(self, domain: str) -> ThreatMatch | None:
        """The ThreatIntelSet entry for ``domain`` or any parent domain of it; None if none."""
        name = domain.strip().lower().rstrip(".")
        while name:
            found = self._threat_domains.get(name)
            if found is not None:
                return found
            _, _, name = name.partition(".")
        return None


_TTL: Final = 2.0


class StoreIntelProvider:
    """One ``IntelView`` per detector, rebuilt from the store at most every ``ttl`` seconds or
    after :meth:`invalidate`. Thread-safe."""

    def __init__(
        self, store: LifecycleStore, *, ttl: float = _TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._views: dict[str, tuple[float, IntelView]] = {}

    def view(self, detector_id: str) -> IntelView:
        """The current view of a detector's ACTIVE lists (empty when it has none)."""
        now = self._clock()
        with self._lock:
            cached = self._views.get(detector_id)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
        view = IntelView(self._store.list_intel_sets(detector_id, None))
        with self._lock:
            self._views[detector_id] = (now, view)
        return view

    def invalidate(self) -> None:
        """Forget every view (the next ``view`` call reads the store)."""
        with self._lock:
            self._views.clear()
