"""Shared runner for the connect and file-write storm benchmarks (see their docstrings).

Runs a bounded Python workload alternately without and with a real ``rtguard agent --sensor
ebpf`` exporting to a real ``rtguard server``, several rounds side by side in one run, and
prints the median overhead ratio, the agent's RSS and CPU time, and the drops it reported.
Loopback only. It must NOT send traffic anywhere but 127.0.0.1 or write outside its temp dir.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exec_storm import dropped, received, rss_kib
from overhead import overhead_lines
from rtguard.testing.stack import AgentProcess, ServerProcess


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def run_workload(code: str, n: int, work: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code, str(n), str(work)], check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip())


def main(name: str, unit: str, code: str, default_n: int) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=default_n)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rtguard-bench-", dir="/tmp"))
    server = ServerProcess(work / "server").start()
    agent = AgentProcess(
        server.url, server.credentials()["agent_token"], work / "agent", heartbeat_interval=1.0
    )
    base: list[float] = []
    with_agent: list[float] = []
    cpu = rss = hwm = 0.0
    try:
        run_workload(code, max(1, args.n // 20), work)  # warm up
        for _ in range(args.rounds):
            base.append(run_workload(code, args.n, work))
            agent.start()
            time.sleep(1.0)
            assert agent.proc is not None
            c0 = _cpu_s(agent.proc.pid)
            with_agent.append(run_workload(code, args.n, work))
            time.sleep(2.5)
            cpu = _cpu_s(agent.proc.pid) - c0
            r, h = rss_kib(agent.proc.pid)
            rss, hwm = r / 1024, h / 1024
            agent.stop()
        drops = dropped(server.url)
        got = received(server.url)
    finally:
        agent.stop()
        server.stop()
    b, a = statistics.median(base), statistics.median(with_agent)
    print(f"{name}: {args.n} {unit} x {args.rounds} rounds (alternating, same run; loopback)")
    print(
        f"  no agent : median {b:.3f}s ({b / args.n * 1e6:.1f} us/{unit[:-1]})  runs {[round(x, 3) for x in base]}"
    )
    print(
        f"  agent    : median {a:.3f}s ({a / args.n * 1e6:.1f} us/{unit[:-1]})  runs {[round(x, 3) for x in with_agent]}"
    )
    print("\n".join(overhead_lines(base, with_agent)))
    print(
        f"  agent CPU: {cpu:.2f}s during the last round (+2.5 s drain); RSS {rss:.1f} MiB (peak {hwm:.1f} MiB)"
    )
    print(f"  events received by the server: {got:.0f}")
    print(f"  drops reported by the agent: {drops or 'none'}")
    return 0
