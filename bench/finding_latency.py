"""Benchmark: from an exec in a container to the finding visible through the GuardDuty API.

Starts a real server and agent (eBPF sensor) and a runc container named like an ECS task; then
N times runs a miner-like binary with its own content (so its own sha256, so its own finding)
and polls ListFindings with boto3 every 10 ms until the new finding is there. Prints p50, p90, p99 and max.
Needs root.

Usage: python bench/finding_latency.py [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from rtguard.testing.containers import RuncContainer
from rtguard.testing.stack import AgentProcess, ServerProcess

MINER = "Impact:Runtime/CryptoMinerExecuted"


def _count(gd: Any, det: str) -> int:
    ids = gd.list_findings(
        DetectorId=det, FindingCriteria={"Criterion": {"type": {"Eq": [MINER]}}}, MaxResults=50
    )
    return len(ids["FindingIds"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rtguard-latency-"))
    server = ServerProcess(work / "server").start()
    cred = server.credentials()
    agent = AgentProcess(server.url, cred["agent_token"], work / "agent").start()
    gd = boto3.client(
        "guardduty",
        endpoint_url=server.url,
        region_name=cred["region"],
        aws_access_key_id=cred["aws_access_key_id"],
        aws_secret_access_key=cred["aws_secret_access_key"],
    )
    det = cred["detector_id"]
    latencies: list[float] = []
    try:
        with RuncContainer() as box:
            box.exec(
                [
                    "sh",
                    "-c",
                    "mkdir -p /m && for i in $(seq 1 60); do cp /bin/true /m/xmrig$i; printf $i >> /m/xmrig$i; done",
                ]
            )
            for i in range(1, min(args.runs, 50) + 1):
                before = _count(gd, det)
                start = time.perf_counter()
                box.spawn([f"/m/xmrig{i}", "-o", "stratum+tcp://pool.invalid:3333"])
                while _count(gd, det) == before:
                    if time.perf_counter() - start > 10:
                        ids = gd.list_findings(DetectorId=det)["FindingIds"]
                        print(
                            [
                                (
                                    f["Type"],
                                    f["Service"]["Count"],
                                    f["Service"]["RuntimeDetails"]["Process"]["ExecutablePath"],
                                )
                                for f in gd.get_findings(DetectorId=det, FindingIds=ids)["Findings"]
                            ],
                            file=sys.stderr,
                        )
                        print(f"run {i}: no finding after 10 s", file=sys.stderr)
                        break
                    time.sleep(0.01)
                latencies.append(time.perf_counter() - start)
    finally:
        agent.stop()
        server.stop()
    q = statistics.quantiles(latencies, n=100)
    print(f"exec in a container -> finding via ListFindings, {len(latencies)} runs")
    print(
        f"  p50 {q[49] * 1000:.0f} ms  p90 {q[89] * 1000:.0f} ms  p99 {q[98] * 1000:.0f} ms  max {max(latencies) * 1000:.0f} ms"
    )
    print("  (includes runc exec start-up, ~40-80 ms, and the 10 ms polling step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
