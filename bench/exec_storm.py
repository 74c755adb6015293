"""Benchmark: the agent's overhead on an exec storm, its RSS and its drops.

Runs the same storm (N fork+exec of /bin/true from a shell loop) alternately without and with
a real ``rtguard agent --sensor ebpf`` (exporting to a real ``rtguard server``), several
rounds side by side in one run, and prints the median of the per-round ratios, the agent's
CPU per exec, its RSS (VmRSS and VmHWM) and the drops it reported in its heartbeat. The agent
stays attached across rounds (``--restart`` starts it fresh each round); without it the storm
runs with the agent stopped. Needs root.

The server has to run on this machine too. In production it runs elsewhere, so by default it
runs at nice 19 (``--server-nice``), which leaves the workload the CPU whenever they compete;
``--server-nice 0`` shows the all-on-one-box cost.

``--sink`` replaces the server by ``bench/null_server.py`` (answers and does nothing else):
the agent's own overhead, as when the server runs on another machine.

Usage: python bench/exec_storm.py [--execs 20000] [--rounds 5] [--pin] [--server-nice 19] [--sink]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from overhead import overhead_lines
from rtguard.testing.stack import AgentProcess, ServerProcess, free_port

BUDGET = 0.03  # DESIGN §7: agent overhead on an exec storm


def storm(n: int, cpu: int | None) -> float:
    script = f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    start = time.perf_counter()
    subprocess.run([*pin, "/bin/sh", "-c", script], check=True)
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin_all_threads(pid: int, cpu: int) -> None:
    subprocess.run(["taskset", "-a", "-cp", str(cpu), str(pid)], check=True, capture_output=True)


def rss_kib(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss, hwm


def dropped(server_url: str) -> dict[str, float]:
    text = httpx.get(server_url + "/metrics", timeout=5).text
    out: dict[str, float] = {}
    for m in re.finditer(r'rtguard_agent_dropped_total\{agent="[^"]*",reason="([^"]+)"\} (\S+)', text):
        out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
    return out


def received(server_url: str) -> float:
    text = httpx.get(server_url + "/metrics", timeout=5).text
    m = re.search(r"^rtguard_events_received_total (\S+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--pin",
        action="store_true",
        help="storm on CPU 0, agent and server on CPU 1 (the agent's kernel-side and cache cost, "
        "without CPU contention from the local server)",
    )
    ap.add_argument(
        "--server-nice",
        type=int,
        default=19,
        help="nice value of the local server (19: stands in for a server on another machine)",
    )
    ap.add_argument("--sink", action="store_true", help="a null server instead of rtguard server")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rtguard-bench-"))
    if args.sink:
        return sink_main(args, work)
    server = ServerProcess(work / "server")
    server.nice = args.server_nice
    server.start()
    storm_cpu = 0 if args.pin else None
    if args.pin and server.proc is not None:
        pin_all_threads(server.proc.pid, 1)
    agent = AgentProcess(
        server.url, server.credentials()["agent_token"], work / "agent", heartbeat_interval=1.0
    )
    base: list[float] = []
    with_agent: list[float] = []
    agent_cpu: list[float] = []
    server_cpu: list[float] = []
    rss = hwm = 0

    def agent_round() -> None:
        nonlocal rss, hwm
        agent.start()
        if args.pin and agent.proc is not None:
            pin_all_threads(agent.proc.pid, 1)
        time.sleep(1.0)
        assert agent.proc is not None and server.proc is not None
        a0, s0 = cpu_seconds(agent.proc.pid), cpu_seconds(server.proc.pid)
        with_agent.append(storm(args.execs, storm_cpu))
        time.sleep(1.0)  # the last batch
        agent_cpu.append(cpu_seconds(agent.proc.pid) - a0)
        server_cpu.append(cpu_seconds(server.proc.pid) - s0)
        time.sleep(2.5)  # let the last batch and a heartbeat through
        rss, hwm = rss_kib(agent.proc.pid)
        agent.stop()
        time.sleep(1.0)  # the server finishes what it received before the next baseline

    try:
        storm(500, storm_cpu)  # warm caches
        for i in range(args.rounds):
            if i % 2 == 0:  # ABBA order: drift in the machine does not favour one side
                base.append(storm(args.execs, storm_cpu))
                agent_round()
            else:
                agent_round()
                base.append(storm(args.execs, storm_cpu))
        drops = dropped(server.url)
        got = received(server.url)
    finally:
        agent.stop()
        server.stop()
    b, a = statistics.median(base), statistics.median(with_agent)
    mode = "pinned: storm CPU 0, agent+server CPU 1" if args.pin else "unpinned"
    print(
        f"exec storm: {args.execs} execs x {args.rounds} rounds (ABBA, same run; {mode}; "
        f"server on this machine at nice {args.server_nice})"
    )
    print(
        f"  no agent : median {b:.3f}s  ({b / args.execs * 1e6:.0f} us/exec)  runs {[round(x, 3) for x in base]}"
    )
    print(
        f"  agent    : median {a:.3f}s  ({a / args.execs * 1e6:.0f} us/exec)  runs {[round(x, 3) for x in with_agent]}"
    )
    print("\n".join(overhead_lines(base, with_agent, BUDGET)))
    ac, sc = statistics.median(agent_cpu), statistics.median(server_cpu)
    print(f"  agent CPU: {ac:.2f}s per storm ({ac / args.execs * 1e6:.0f} us/exec); server CPU {sc:.2f}s")
    print(f"  agent RSS: {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB) after the last round")
    print(f"  events received by the server: {got:.0f} (storm execs and everything else on the host)")
    print(f"  drops reported by the agent: {drops or 'none'}")
    return 0


def sink_main(args: argparse.Namespace, work: Path) -> int:
    """The storm with the agent sending to ``bench/null_server.py`` (its own cost only)."""
    port = free_port()
    state = work / "sink.json"
    sink = subprocess.Popen(
        ["nice", "-n", str(args.server_nice), sys.executable, str(Path(__file__).with_name("null_server.py")),
         str(port), str(state)],
    )  # fmt: skip
    agent = AgentProcess(f"http://127.0.0.1:{port}", "t", work / "agent", heartbeat_interval=1.0)
    storm_cpu = 0 if args.pin else None
    base: list[float] = []
    with_agent: list[float] = []
    agent_cpu: list[float] = []
    rss = hwm = 0
    try:
        time.sleep(0.5)
        storm(500, storm_cpu)
        for i in range(args.rounds):
            if i % 2 == 0:
                base.append(storm(args.execs, storm_cpu))
            agent.start()
            assert agent.proc is not None
            if args.pin:
                pin_all_threads(agent.proc.pid, 1)
                pin_all_threads(sink.pid, 1)
            time.sleep(1.0)
            a0 = cpu_seconds(agent.proc.pid)
            with_agent.append(storm(args.execs, storm_cpu))
            time.sleep(1.0)
            agent_cpu.append(cpu_seconds(agent.proc.pid) - a0)
            time.sleep(2.5)
            rss, hwm = rss_kib(agent.proc.pid)
            agent.stop()
            time.sleep(0.5)
            if i % 2 == 1:
                base.append(storm(args.execs, storm_cpu))
        seen = json.loads(state.read_text()) if state.exists() else {}
    finally:
        agent.stop()
        sink.terminate()
        sink.wait(10)
    b, a = statistics.median(base), statistics.median(with_agent)
    mode = "pinned: storm CPU 0, agent+sink CPU 1" if args.pin else "unpinned"
    print(
        f"exec storm: {args.execs} execs x {args.rounds} rounds (ABBA; {mode}; null server at nice {args.server_nice})"
    )
    print(f"  no agent : median {b / args.execs * 1e6:.0f} us/exec  runs {[round(x, 3) for x in base]}")
    print(f"  agent    : median {a / args.execs * 1e6:.0f} us/exec  runs {[round(x, 3) for x in with_agent]}")
    print("\n".join(overhead_lines(base, with_agent, BUDGET)))
    ac = statistics.median(agent_cpu)
    print(
        f"  agent CPU: {ac / args.execs * 1e6:.0f} us/exec; RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB)"
    )
    print(
        f"  batches sent: {seen.get('batches')} ({seen.get('batch_bytes')} bytes); drops: {seen.get('dropped')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
