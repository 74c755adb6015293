"""Threat-intel look-up cost with large local feeds: load time, memory and look-ups per second.

For each size (the shipped feed alone, then 100,000 and 500,000 extra entries: 90 % domains,
10 % IPv4 networks, as ``rtguard intel update`` writes them), a fresh Python process writes a
local feed directory, loads it with ``load_feed`` (what ``rtguard server --intel-dir`` does)
and times ``BuiltinFeed.domain`` on canonical names of 2 to 6 labels (half listed sub-domains,
half misses) and ``BuiltinFeed.ip`` (half hits). Look-ups are hash probes, one per label for a
name and one per prefix length in use for an address, so the rate must not fall with the size.
Prints numbers; asserts nothing.

Run: ``.venv/bin/python bench/intel_lookup.py [--sizes 0,100000,500000] [--lookups N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rtguard.intel.feed import load_feed


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(5, 14)))


def _child(size: int, lookups: int) -> dict[str, float]:
    rng = random.Random(size)
    domains = [f"{_word(rng)}.{_word(rng)}.{rng.choice(('com', 'net', 'org', 'io', 'example'))}"
               for _ in range(size * 9 // 10)]  # fmt: skip
    nets = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
            + rng.choice(("", "", "/24", "/28")) for _ in range(size - len(domains))]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        dirs = []
        if size:
            doc = {"version": 2, "categories": [
                {"category": "c2", "threatListName": "bench", "domains": domains, "ips": nets}]}  # fmt: skip
            Path(tmp, "bench.json").write_text(json.dumps(doc))
            dirs.append(Path(tmp))
        before = _rss_kib()
        start = time.perf_counter()
        feed = load_feed(dirs)
        load_s = time.perf_counter() - start
        rss_mib = (_rss_kib() - before) / 1024
    listed = domains or list(feed.domains)
    names = []
    for i in range(lookups):
        if i % 2:
            names.append(".".join([_word(rng) for _ in range(rng.randint(0, 3))] + [rng.choice(listed)]))
        else:
            names.append(".".join(_word(rng) for _ in range(rng.randint(2, 6))))
    addresses = [
        (n.split("/")[0] if i % 2 and nets else f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.0.{rng.randint(1, 254)}")
        for i, n in enumerate(rng.choices(nets or ["192.0.2.1"], k=lookups))
    ]  # fmt: skip
    start = time.perf_counter()
    dom_hits = sum(feed.domain(n) is not None for n in names)
    dom_rate = lookups / (time.perf_counter() - start)
    start = time.perf_counter()
    ip_hits = sum(feed.ip(a) is not None for a in addresses)
    ip_rate = lookups / (time.perf_counter() - start)
    return {"size": size, "load_s": load_s, "rss_mib": rss_mib, "domain_per_s": dom_rate,
            "domain_hit": dom_hits / lookups, "ip_per_s": ip_rate, "ip_hit": ip_hits / lookups}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="0,100000,500000")
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_child(args.child, args.lookups)))
        return
    print(f"{'extra entries':>13} {'load s':>7} {'RSS MiB':>8} {'domain lookups/s':>17} {'hit':>5} "
          f"{'IP lookups/s':>13} {'hit':>5}")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(size), "--lookups", str(args.lookups)],
                             check=True, capture_output=True, text=True).stdout  # fmt: skip
        r = json.loads(out)
        print(f"{r['size']:>13,} {r['load_s']:>7.2f} {r['rss_mib']:>8.1f} {r['domain_per_s']:>17,.0f} "
              f"{r['domain_hit']:>5.2f} {r['ip_per_s']:>13,.0f} {r['ip_hit']:>5.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
