"""Benchmark: the agent's user-space CPU per exec, stage by stage, on records from a real storm.

Captures the raw ring-buffer records of a real exec storm (N fork+exec of /bin/true from a shell
loop) with the real eBPF sensor, then replays them, in this one process, through the agent's
hot path: decode, the process table (with the agent's real lookups), and batch encoding
(JSON + gzip, batches of 512 as the batch processor makes them). Prints CPU microseconds per
exec for each stage (``time.process_time``, best of ``--repeat`` replays, so the number does
not depend on what else the machine is doing) and the records per exec.

The replay runs after the storm's processes have gone, so the lookups take their "process
gone" paths; the wall-time benchmark (``exec_storm.py``) stays the judge of the overhead.
This one says where the time goes and whether a change made a stage cheaper. Needs root.

Usage: python bench/agent_pipeline.py [--execs 5000] [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import pstats
import subprocess
import threading
import time
from collections import Counter

from rtguard.agent import memory
from rtguard.agent.enrich.lookups import build_lookups
from rtguard.agent.enrich.process_cache import ProcessTable
from rtguard.agent.sensors.bpf.decode import DecodeError, decode
from rtguard.agent.sensors.bpf.sensor import BpfSensor
from rtguard.model.codec import Batch, encode_batch_json
from rtguard.model.events import Event, Host

BATCH = 512


def capture(n: int) -> list[bytes]:
    """The raw records the kernel wrote during a storm of ``n`` execs."""
    sensor = BpfSensor()
    sensor.start()
    ring = sensor._ring  # the benchmark reads raw records, before decoding
    assert ring is not None
    raw: list[bytes] = []
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            raw.extend(ring.wait(20))
        raw.extend(ring.consume(1 << 30))

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        script = f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"
        subprocess.run(["/bin/sh", "-c", script], check=True)
        time.sleep(0.1)
    finally:
        stop.set()
        t.join(5)
        sensor.close()
    return raw


def replay(raw: list[bytes]) -> tuple[float, float, float, float, int, int]:
    """One pass: (decode, table, encode JSON, gzip) CPU seconds, events, wire bytes."""
    host = Host(hostname="bench", instance_id="", boot_id="")
    lookups, _ = build_lookups("http://127.0.0.1:9", "")
    table = ProcessTable(host, lookups, exit_events=False)
    t0 = time.process_time()
    recs = [r for r in map(decode, raw) if not isinstance(r, DecodeError)]
    t1 = time.process_time()
    events: list[Event] = []
    for rec in recs:
        events.extend(table.events(rec))
    t2 = time.process_time()
    bodies = [
        encode_batch_json(Batch(agent_id="bench", seq=i, events=tuple(events[i : i + BATCH])))
        for i in range(0, len(events), BATCH)
    ]
    t3 = time.process_time()
    wire = sum(len(gzip.compress(b, compresslevel=1)) for b in bodies)
    t4 = time.process_time()
    return t1 - t0, t2 - t1, t3 - t2, t4 - t3, len(events), wire


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile one replay, top 30 by own time")
    args = ap.parse_args()
    raw = capture(args.execs)
    memory.tune_gc()  # as the agent does after start-up
    kinds = Counter(type(r).__name__ for r in map(decode, raw))
    n = args.execs
    runs = [replay(raw) for _ in range(args.repeat)]
    best = [min(r[i] for r in runs) for i in range(4)]
    events, wire = runs[0][4], runs[0][5]
    print(f"agent pipeline: {n} execs captured, {len(raw)} records ({len(raw) / n:.2f}/exec), "
          f"{events} events; best of {args.repeat} replays, CPU us per exec")  # fmt: skip
    print(f"  records by op: {dict(kinds.most_common(8))}")
    for name, sec in zip(("decode", "table", "encode JSON", "gzip"), best, strict=True):
        print(f"  {name:12s}: {sec / n * 1e6:6.1f}")
    print(f"  {'total':12s}: {sum(best) / n * 1e6:6.1f}   wire {wire / max(events, 1):.0f} B/event gzip'd")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(replay, raw)
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
