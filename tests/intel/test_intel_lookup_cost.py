"""Look-up cost does not grow with the feed: with a few hundred thousand entries loaded, a DNS
name costs at most three hash probes per label and an address one per prefix length in use
(see ``bench/intel_lookup.py`` for rates, load time and memory)."""

from __future__ import annotations

import time
from typing import Any

from rtguard.intel.feed import BuiltinFeed, FeedCategory

_DOMAINS = 250_000
_NETS = 50_000


class _Counting(dict[str, FeedCategory]):
    probes = 0

    def get(self, key: str, default: Any = None) -> Any:
        type(self).probes += 1
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        type(self).probes += 1
        return super().__contains__(key)


def _big_feed() -> BuiltinFeed:
    domains = [f"host{i}.zone{i % 997}.example" for i in range(_DOMAINS)]
    nets = [f"{11 + i % 200}.{(i >> 8) % 256}.{i % 256}.0/24" for i in range(_NETS)]
    return BuiltinFeed({"version": 2, "categories": [
        {"category": "c2", "threatListName": "big", "domains": domains, "ips": nets},
        {"category": "abused-reputation", "threatListName": "big", "suffixes": ["dyn.example"], "exceptions": ["api.dyn.example"]}]})  # fmt: skip


def test_lookups_probe_per_label_not_per_entry_with_300k_entries() -> None:
    feed = _big_feed()
    assert len(feed.domains) == _DOMAINS and feed.network_count == _NETS
    feed._domains = _Counting(feed._domains)  # count the hash probes of domain()
    feed._suffixes = _Counting(feed._suffixes)
    feed._exceptions = _Counting(feed._exceptions)
    for name, labels, listed in [("a.b.c.host7.zone7.example", 6, True), ("nothing.here.example", 3, False),
                                 ("x.dyn.example", 3, True), ("host7.zone7.example", 3, True)]:  # fmt: skip
        _Counting.probes = 0
        assert (feed.domain(name) is not None) is listed
        assert _Counting.probes <= 3 * labels, (name, _Counting.probes)
    assert feed.ip("11.0.0.9") is not None and feed.ip("10.0.0.9") is None
    assert len(feed._ips._order[4]) == 1, "one prefix length in use: one probe per address"
    names = [f"w{i}.host{i * 7 % _DOMAINS}.zone{i * 7 % _DOMAINS % 997}.example" for i in range(20_000)]
    addresses = [f"{11 + i % 200}.{i % 256}.{i % 256}.1" for i in range(20_000)]
    start = time.perf_counter()
    hits = sum(feed.domain(n) is not None for n in names) + sum(feed.ip(a) is not None for a in addresses)
    elapsed = time.perf_counter() - start
    assert hits >= 20_000
    # A linear scan would take minutes here; hash probes take well under a second even on a busy CI box.
    assert elapsed < 5.0, f"40,000 look-ups took {elapsed:.2f}s"
