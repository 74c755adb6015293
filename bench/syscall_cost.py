"""Benchmark: the eBPF sensor's cost on a read/write-heavy loop (the system-wide DNS hooks).

``dd if=/dev/zero of=/dev/null bs=1 count=N`` makes 2·N read/write syscalls on non-socket fds:
every one of them runs the sensor's ``sys_enter_read``/``sys_exit_read``/``sys_enter_write``
programs, which must bail out cheaply. Alternates, side by side in one run: no sensor; the
sensor attached (drained by a thread that discards records); the sensor with the read/write hooks
disabled; the sensor without the raw ``sys_enter`` program (module-load fallback, every syscall).
On a busy host compare the "best" (minimum) columns, and the per-program run times. The loop is pinned to CPU 0 and the drain thread to CPU 1. Needs root.

Usage: python bench/syscall_cost.py [--count 2000000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from rtguard.agent.sensors.bpf.sensor import ENV_DISABLE, BpfSensor

RW_HOOKS = "sys_enter_write,sys_enter_writev,sys_enter_read,sys_exit_read"
RAW_SYS_ENTER = "sys_enter"  # tp_btf/sys_enter, the module-load fallback: runs on every syscall
RW_PROGS = ("rtg_enter_read", "rtg_exit_read", "rtg_enter_write", "rtg_sys_enter")


def dd_loop(count: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["taskset", "-c", "0", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}"],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def prog_stats(ids: set[int] | None = None) -> dict[str, tuple[int, int]]:
    """``{program name: (run_cnt, run_time_ns)}`` of loaded rtg_* programs (bpftool), only ``ids``
    when given (other agents or tests may run the same programs on this machine)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], check=True, capture_output=True, text=True).stdout
    return {
        p["name"]: (int(p.get("run_cnt", 0)), int(p.get("run_time_ns", 0)))
        for p in json.loads(out)
        if str(p.get("name", "")).startswith("rtg_") and (ids is None or int(p["id"]) in ids)
    }


def prog_ids() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], check=True, capture_output=True, text=True).stdout
    return {int(p["id"]) for p in json.loads(out)}


def with_sensor(count: int, disable: str, stats: dict[str, list[float]] | None = None) -> float:
    os.environ[ENV_DISABLE] = disable
    before = prog_ids() if stats is not None else set()
    sensor = BpfSensor()
    sensor.start()
    mine = prog_ids() - before
    stop = threading.Event()

    def drain() -> None:
        os.sched_setaffinity(0, {1})
        while not stop.is_set():
            sensor.poll(50)

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        took = dd_loop(count)
        if stats is not None:
            for name, (cnt, ns) in prog_stats(mine).items():
                if cnt:
                    stats.setdefault(name, []).append(ns / cnt)
        return took
    finally:
        stop.set()
        t.join(5)
        sensor.close()
        os.environ.pop(ENV_DISABLE, None)


ARMS = ("no sensor", "sensor, all hooks", "sensor, no read/write hooks", "sensor, no raw sys_enter")


def print_arms(runs: Sequence[list[float]], show: Callable[[float], str]) -> None:
    """One row per arm (``ARMS`` order): median and best run, each also against the first arm."""
    base = runs[0]
    b = statistics.median(base)
    for label, arm in zip(ARMS, runs, strict=True):
        m = statistics.median(arm)
        print(
            f"  {label:28s} median {show(m)}  {100 * (m / b - 1):+6.1f}%"
            f"  (best {show(min(arm))}, {100 * (min(arm) / min(base) - 1):+6.1f}%)"
        )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    per_prog: dict[str, list[float]] = {}
    base: list[float] = []
    full: list[float] = []
    no_rw: list[float] = []
    no_raw: list[float] = []
    dd_loop(args.count // 10)
    for _ in range(args.rounds):
        base.append(dd_loop(args.count))
        full.append(with_sensor(args.count, ""))
        no_rw.append(with_sensor(args.count, RW_HOOKS))
        no_raw.append(with_sensor(args.count, RAW_SYS_ENTER))
    calls = 2 * args.count
    print(f"dd bs=1 count={args.count} ({calls} syscalls) x {args.rounds} rounds, dd on CPU 0")
    print_arms((base, full, no_rw, no_raw), lambda s: f"{s:6.3f} s  {s / calls * 1e9:6.0f} ns/syscall")
    # Per-program run time (kernel.bpf_stats_enabled), in separate runs since the accounting itself
    # costs two clock reads per program run: exact per program, unlike wall time on a busy host.
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write("1")
    try:
        for _ in range(args.rounds):
            with_sensor(args.count // 4, "", per_prog)
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("0")
    print(
        "  BPF program run time on the read/write path, median ns per run incl. ~2 clock reads of accounting:"
    )
    for name in RW_PROGS:
        if name in per_prog:
            print(f"    {name:18s} {statistics.median(per_prog[name]):7.1f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
