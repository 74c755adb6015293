"""Benchmark: the eBPF sensor's own cost on an exec storm, without the agent's user-space work.

Alternates, side by side in one run: no sensor; the sensor attached and drained by a thread that
discards the records; the same with the system-wide read/write hooks (DNS over read/write)
disabled; the same without the raw ``sys_enter`` program (module load attempts on kernels without
module support; it runs on every syscall). The storm is pinned to CPU 0 and the drain thread to CPU 1, so what differs is the
kernel-side cost of the programs. Needs root.

Then one storm with ``kernel.bpf_stats_enabled``: each program's run count and time per exec (an
upper bound: other processes' syscalls count too, and the accounting adds two clock reads per run).
On a busy host the wall-time rows are noisy; the per-program rows are not.

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
from syscall_cost import print_arms, prog_ids, prog_stats

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
    print(f"exec storm {args.execs} x {args.rounds} rounds, storm on CPU 0, sensor drain on CPU 1")
    print_arms((base, full, no_rw, no_raw), lambda s: f"{s / args.execs * 1e6:6.0f} us/exec")
    program_time(args.execs, statistics.median(base) / args.execs)
    return 0


def program_time(n: int, base_per_exec: float) -> None:
    """Per-program cost of one storm, from the kernel's own accounting (every program loaded)."""
    os.environ.pop(ENV_DISABLE, None)
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write("1")
    try:
        before = prog_ids()
        sensor = BpfSensor()
        sensor.start()
        try:
            mine = prog_ids() - before
            c0 = prog_stats(mine)
            storm(n)
            c1 = prog_stats(mine)
        finally:
            sensor.close()
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("0")
    rows = []
    for name, (cnt, ns) in c1.items():
        d_cnt, d_ns = cnt - c0.get(name, (0, 0))[0], ns - c0.get(name, (0, 0))[1]
        if d_cnt:
            rows.append((d_ns / n, name, d_cnt / n, d_ns / d_cnt))
    total = sum(r[0] for r in rows)
    print(f"  BPF programs during one storm (bpf_stats): {total / 1000:.2f} us/exec in all "
          f"= {100 * total / 1e9 / base_per_exec:.2f}% of a bare exec; busiest and the raw sys_enter:")  # fmt: skip
    for per_exec, name, runs, per_run in sorted(rows, reverse=True)[:6] + [
        r for r in rows if r[1] == "rtg_sys_enter"
    ]:
        print(f"    {name:20s} {runs:7.1f} runs/exec {per_run:7.1f} ns/run {per_exec / 1000:6.2f} us/exec "
              f"({100 * per_exec / 1e9 / base_per_exec:.2f}%)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
