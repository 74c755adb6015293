"""Benchmark: the eBPF sensor's own cost on an exec storm, without the agent's user-space work.

Alternates, side by side in one run: no sensor; the sensor attached and drained by a thread that
discards the records; the same with the system-wide read/write hooks (DNS over read/write)
disabled; the same without the raw ``sys_enter`` program (module load attempts on kernels without
module support; it runs on every syscall). The storm is pinned to CPU 0 and the drain thread to CPU 1, so what differs is the
kernel-side cost of the programs. Needs root.

Usage: python bench/sensor_cost.py [--execs 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

from rtguard.agent.sensors.bpf.sensor import ENV_DISABLE, BpfSensor

RW_HOOKS = "sys_enter_write,sys_enter_writev,sys_enter_read,sys_exit_read"
RAW_SYS_ENTER = "sys_enter"  # tp_btf/sys_enter: the module-load fallback


def storm(n: int) -> float:
    script = f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"
    start = time.perf_counter()
    subprocess.run(["taskset", "-c", "0", "/bin/sh", "-c", script], check=True)
    return time.perf_counter() - start


def with_sensor(n: int, disable: str) -> tuple[float, int]:
    os.environ[ENV_DISABLE] = disable
    sensor = BpfSensor()
    sensor.start()
    stop = threading.Event()
    got = [0]

    def drain() -> None:
        os.sched_setaffinity(0, {1})
        while not stop.is_set():
            got[0] += len(sensor.poll(50))

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        took = storm(n)
    finally:
        time.sleep(0.2)
        stop.set()
        t.join(5)
        sensor.close()
    return took, got[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    base: list[float] = []
    full: list[float] = []
    no_rw: list[float] = []
    no_raw: list[float] = []
    storm(300)
    for _ in range(args.rounds):
        base.append(storm(args.execs))
        full.append(with_sensor(args.execs, "")[0])
        no_rw.append(with_sensor(args.execs, RW_HOOKS)[0])
        no_raw.append(with_sensor(args.execs, RAW_SYS_ENTER)[0])
    b = statistics.median(base)
    print(f"exec storm {args.execs} x {args.rounds} rounds, storm on CPU 0, sensor drain on CPU 1")
    for label, runs in (
        ("no sensor", base),
        ("sensor, all hooks", full),
        ("sensor, no read/write hooks", no_rw),
        ("sensor, no raw sys_enter", no_raw),
    ):
        m = statistics.median(runs)
        print(
            f"  {label:28s} median {m / args.execs * 1e6:6.0f} us/exec  {100 * (m / b - 1):+6.1f}%"
            f"  (best {min(runs) / args.execs * 1e6:6.0f} us/exec, {100 * (min(runs) / min(base) - 1):+6.1f}%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
