"""Privileged: a flood of watched file opens (~200,000/s, over 50,000 files) against a deliberately small ring.

The workload must finish unharmed (not much slower than without the sensor), the consumer's
memory must stay bounded, and every record the kernel could not deliver must be counted as a
drop (emitted + ring-full + coalesced >= the opens we made; a re-open of a file by the same process
within a second is coalesced in the kernel), never hidden.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rtguard.agent.sensors.bpf.sensor import BpfSensor
from rtguard.testing.privilege import require_root

OPENS = 200_000
WORKLOAD = """
import os, sys, time
d = sys.argv[1]; n = int(sys.argv[2])
t = time.perf_counter()
for i in range(n):
    os.close(os.open(d + "/f%d" % (i % 50000), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
print(time.perf_counter() - t)
"""


def _flood(d: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", WORKLOAD, d, str(OPENS)], check=True, capture_output=True, text=True
    )
    return float(out.stdout)


def _hwm_kib() -> int:
    m = re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())
    assert m
    return int(m.group(1))


def test_open_flood_is_counted_not_hidden_and_memory_stays_bounded() -> None:
    require_root()
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        base = _flood(d)
        sensor = BpfSensor(ring_bytes=256 << 10, max_batch=512)
        sensor.start()
        try:
            before = sensor.kernel_counters()
            rss0 = _hwm_kib()
            proc = subprocess.Popen(
                [sys.executable, "-c", WORKLOAD, d, str(OPENS)], stdout=subprocess.PIPE, text=True
            )
            seen = 0
            peak_batch = 0
            while proc.poll() is None:
                batch = sensor.poll(0)
                peak_batch = max(peak_batch, len(batch))
                seen += len(batch)
                time.sleep(0.1)  # a consumer slower than the flood: the ring must overflow
            flooded = float(proc.communicate()[0])
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                seen += len(sensor.poll(20))
            after = sensor.kernel_counters()
            rss1 = _hwm_kib()
        finally:
            sensor.close()
    emitted = after["emitted"] - before["emitted"]
    lost = after["ringbuf_full"] - before["ringbuf_full"]
    assert after["ringbuf_busy"] == before["ringbuf_busy"], "a full ring counts as full, not busy"
    coalesced = after["coalesced"] - before["coalesced"]
    rate = OPENS / flooded
    print(f"flood: {rate:,.0f} opens/s with the sensor (base {OPENS / base:,.0f}/s), emitted {emitted}, "
          f"lost {lost}, coalesced {coalesced}, delivered {seen}, rss +{rss1 - rss0} KiB, "
          f"retried {after['retried'] - before['retried']}")  # fmt: skip
    assert lost > 0, "the small ring overflowed (the flood must test the loss accounting)"
    assert emitted + lost + coalesced >= OPENS, "every watched open is delivered, counted lost or coalesced"
    assert peak_batch <= 512
    assert rss1 - rss0 < 30_000, "the consumer's memory is bounded by the batch, not the flood"
    assert flooded < base * 3 + 1, f"workload slowed from {base:.2f}s to {flooded:.2f}s"
