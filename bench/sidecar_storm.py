"""Benchmark: the ptrace sidecar sensor's overhead on an exec storm inside a task, and its RSS.

Builds a Fargate-like task as the e2e test does (a workload runc container, a sidecar runc
container running ``rtguard agent --sensor sidecar`` with only CAP_SYS_PTRACE, sharing the
workload's pid and network namespaces, exporting to a real ``rtguard server`` on the host),
then times the same storm (N fork+exec of /bin/true from a shell loop, timed inside the
container) alternately without and with the sidecar attached, several rounds side by side,
and prints the median slowdown, the agent's RSS (VmRSS, VmHWM), the storm execs the server
received and the drops the agent reported. Needs root, runc and iproute2.

Usage: python bench/sidecar_storm.py [--execs 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from rtguard.model.codec import decode_event
from rtguard.store.sqlite import SqlStore
from rtguard.testing.containers import DEFAULT_ENV, RuncContainer, new_container_id
from rtguard.testing.netns import NetNamespace
from rtguard.testing.relay import TcpRelay
from rtguard.testing.stack import ServerProcess

WAIT_TRACED = 'while ! grep -q "TracerPid:[[:space:]]*[1-9]" /proc/$$/status; do sleep 0.01; done'


def storm(box: RuncContainer, n: int, tag: str, traced: bool) -> float:
    wait = f"{WAIT_TRACED}; " if traced else ""
    script = (
        f"{wait}s=$(date +%s%N); i=0; while [ $i -lt {n} ]; do /bin/true {tag} $i; i=$((i+1)); done; "
        "e=$(date +%s%N); echo $((e-s))"
    )
    out = box.exec(["sh", "-c", script], timeout=600, check=True)
    return int(out.stdout.strip()) / 1e9


def rss_kib(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = re.search(r"VmRSS:\s+(\d+)", status)
    hwm = re.search(r"VmHWM:\s+(\d+)", status)
    return (int(rss.group(1)) if rss else 0, int(hwm.group(1)) if hwm else 0)


def dropped(server_url: str) -> dict[str, float]:
    text = httpx.get(server_url + "/metrics", timeout=5).text
    out: dict[str, float] = {}
    for m in re.finditer(r'rtguard_agent_dropped_total\{agent="[^"]*",reason="([^"]+)"\} (\S+)', text):
        out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
    return out


def received(db: Path, tag: str) -> int:
    store = SqlStore(f"sqlite:///{db}")
    try:
        count, cursor = 0, 0
        while rows := store.events_after(cursor, 5000):
            for row in rows:
                ev = decode_event(json.loads(row[2]))
                if ev.process.argv[:2] == ("/bin/true", tag):
                    count += 1
                cursor = row[0]
        return count
    finally:
        store.close()


def start_sidecar(workload: RuncContainer, ns: NetNamespace, relay: TcpRelay, token: str) -> RuncContainer:
    cmd = [
        sys.executable, "-m", "rtguard.cli", "agent", "--server", f"http://{ns.peer_ip}:{relay.port}",
        "--token", token, "--sensor", "sidecar", "--spool-dir", "/var/lib/rtguard-spool",
        "--heartbeat-interval", "1",
    ]  # fmt: skip
    sidecar = RuncContainer(
        args=cmd,
        env=list(DEFAULT_ENV),
        task_id=workload.task_id,
        netns_path=ns.path,
        pidns_path=workload.pidns_path,
        capabilities=["CAP_SYS_PTRACE"],
    ).start()
    deadline = time.monotonic() + 60
    while "rtguard agent running" not in sidecar.init_output()[0]:
        if time.monotonic() > deadline:
            sidecar.close()
            raise RuntimeError(f"sidecar did not start: {sidecar.init_output()}")
        time.sleep(0.1)
    return sidecar


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rtguard-bench-sidecar-"))
    server = ServerProcess(work / "server").start()
    token = server.credentials()["agent_token"]
    base: list[float] = []
    traced: list[float] = []
    rss: list[tuple[int, int]] = []
    try:
        with (
            NetNamespace() as ns,
            TcpRelay(ns.peer_ip, server.port) as relay,
            RuncContainer(container_id=new_container_id(), netns_path=ns.path) as workload,
        ):
            storm(workload, 200, "warmup", traced=False)
            for r in range(args.rounds):
                base.append(storm(workload, args.execs, f"base{r}", traced=False))
                sidecar = start_sidecar(workload, ns, relay, token)
                try:
                    traced.append(storm(workload, args.execs, f"storm{r}", traced=True))
                    time.sleep(2.0)  # let the agent drain, export and heartbeat
                    rss.append(rss_kib(sidecar.pid))
                finally:
                    with contextlib.suppress(OSError):
                        os.kill(sidecar.pid, signal.SIGTERM)  # a clean detach, then the container goes
                    sidecar.wait(20)
                    sidecar.close()
                print(
                    f"round {r + 1}: no agent {base[-1] / args.execs * 1e6:.0f} us/exec, "
                    f"sidecar {traced[-1] / args.execs * 1e6:.0f} us/exec",
                    flush=True,
                )
            time.sleep(1.0)
            got = [received(server.data_dir / "rtguard.db", f"storm{r}") for r in range(args.rounds)]
            drops = dropped(server.url)
    finally:
        server.stop()
    ratio = statistics.median(t / b for t, b in zip(traced, base, strict=True))
    print(f"execs per round: {args.execs}, rounds: {args.rounds}")
    print(f"median slowdown with the sidecar sensor: {100 * (ratio - 1):+.1f} %")
    print(f"no agent: {statistics.median(base) / args.execs * 1e6:.0f} us/exec (median)")
    print(f"sidecar:  {statistics.median(traced) / args.execs * 1e6:.0f} us/exec (median)")
    print(f"agent RSS after each storm (VmRSS/VmHWM KiB): {rss}")
    print(f"storm execs received by the server per round: {got}")
    print(f"drops reported by the agent: {drops or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
