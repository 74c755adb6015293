"""Benchmark: from an exec in a container to the finding visible through the GuardDuty API, for
the embedded server (one process, SQLite) and the scale-out deployment (ingest, detect and API
processes over PostgreSQL and NATS JetStream), side by side in one run.

For each deployment it starts the real processes and an agent (eBPF sensor) reporting to them,
and a runc container named like an ECS task; then N times runs a miner-like binary with its own
content (so its own sha256, so its own finding) and polls ListFindings with boto3 every 10 ms
until the new finding is there. The deployments take turns in rounds of a few execs, so that a
slow minute of the machine hits both. Prints p50, p90, p99 and max per deployment and the ratio
of their medians. PostgreSQL runs with fsync on, as SQLite does (synchronous=FULL). Needs root.

Usage: python bench/finding_latency.py [--runs 50] [--mode both|embedded|scaleout]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from rtguard.testing.containers import RuncContainer
from rtguard.testing.nats import running_nats
from rtguard.testing.postgres import running_postgres
from rtguard.testing.scaleout import scale_out
from rtguard.testing.stack import AgentProcess, ServerProcess

MINER = "Impact:Runtime/CryptoMinerExecuted"
ROUND = 5  # execs per deployment per turn


class Deployment:
    """A running server (of either kind) with an agent reporting to it and a container to exec in."""

    def __init__(self, name: str, api_url: str, ingest_url: str, cred: dict[str, str], work: Path) -> None:
        self.name = name
        self.agent = AgentProcess(ingest_url, cred["agent_token"], work / f"agent-{name}").start()
        self.gd = boto3.client(
            "guardduty",
            endpoint_url=api_url,
            region_name=cred["region"],
            aws_access_key_id=cred["aws_access_key_id"],
            aws_secret_access_key=cred["aws_secret_access_key"],
        )
        self.det = cred["detector_id"]
        self.latencies: list[float] = []

    def found(self, binary: str) -> bool:
        # Every agent sees every exec on the host, so each deployment gets the other's findings
        # too: look for this binary's finding, not for a change in the count.
        criterion = {
            "type": {"Eq": [MINER]},
            "service.runtimeDetails.process.executablePath": {"Eq": [binary]},
        }
        ids = self.gd.list_findings(DetectorId=self.det, FindingCriteria={"Criterion": criterion})
        return bool(ids["FindingIds"])

    def measure(self, box: Any, binary: str) -> None:
        start = time.perf_counter()
        box.spawn([binary, "-o", "stratum+tcp://pool.invalid:3333"])
        while not self.found(binary):
            if time.perf_counter() - start > 10:
                print(f"{self.name}: {binary}: no finding after 10 s", file=sys.stderr)
                break
            time.sleep(0.01)
        self.latencies.append(time.perf_counter() - start)


@contextlib.contextmanager
def embedded(work: Path) -> Iterator[Deployment]:
    server = ServerProcess(work / "embedded").start()
    deployment = Deployment("embedded", server.url, server.url, server.credentials(), work)
    try:
        yield deployment
    finally:
        deployment.agent.stop()
        server.stop()


@contextlib.contextmanager
def scaled_out(work: Path) -> Iterator[Deployment]:
    with contextlib.ExitStack() as held:
        pg = held.enter_context(running_postgres(fsync=True))
        nats = held.enter_context(running_nats())
        stack = held.enter_context(scale_out(work / "scaleout", pg.url(pg.create_database()), nats.url))
        deployment = Deployment("scale-out", stack.api.url, stack.ingest.url, stack.api.credentials(), work)
        try:
            yield deployment
        finally:
            deployment.agent.stop()


def _summary(d: Deployment) -> str:
    q = statistics.quantiles(d.latencies, n=100, method="inclusive")
    return (f"  {d.name:<10} {len(d.latencies)} runs: p50 {q[49] * 1000:.0f} ms  p90 {q[89] * 1000:.0f} ms  "
            f"p99 {q[98] * 1000:.0f} ms  max {max(d.latencies) * 1000:.0f} ms")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50, help="execs per deployment (at most 100)")
    ap.add_argument("--mode", choices=("both", "embedded", "scaleout"), default="both")
    args = ap.parse_args()
    runs = max(2, min(args.runs, 100))
    work = Path(tempfile.mkdtemp(prefix="rtguard-latency-"))
    with contextlib.ExitStack() as stack:
        deployments: list[Deployment] = []
        if args.mode in ("both", "embedded"):
            deployments.append(stack.enter_context(embedded(work)))
        if args.mode in ("both", "scaleout"):
            deployments.append(stack.enter_context(scaled_out(work)))
        with RuncContainer() as box:
            # Each exec needs a binary of its own content: the same hash would aggregate.
            copies = runs * len(deployments)
            box.exec(["sh", "-c", f"mkdir -p /m && for i in $(seq 1 {copies}); do cp /bin/true /m/xmrig$i; "
                      "printf $i >> /m/xmrig$i; done"])  # fmt: skip
            n = 0
            while any(len(d.latencies) < runs for d in deployments):
                for d in deployments:
                    for _ in range(min(ROUND, runs - len(d.latencies))):
                        n += 1
                        d.measure(box, f"/m/xmrig{n}")
    print("exec in a container -> finding via ListFindings (turns of 5 execs per deployment)")
    for d in deployments:
        print(_summary(d))
    if len(deployments) == 2:
        ratio = statistics.median(deployments[1].latencies) / statistics.median(deployments[0].latencies)
        print(f"  median ratio scale-out / embedded: {ratio:.2f}")
    print("  (includes runc exec start-up, ~40-80 ms, and the 10 ms polling step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
