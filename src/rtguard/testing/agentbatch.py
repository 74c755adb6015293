"""Helpers for tests that drive a running server from outside: agent batches as the agent's
exporter sends them (gzip JSON, bearer token, per-agent sequence numbers), boto3 clients from a
credentials file, the crypto-miner findings read back through the API, polling.

Test helper only: production code must not import it. Everything goes through HTTP.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
import httpx
from botocore.config import Config

import rtguard
from rtguard.model.codec import Batch, encode_batch
from rtguard.model.events import Container, EcsTask, Event
from rtguard.testing.events import exec_event

__all__ = ["MINER", "code_env", "guardduty", "miner_event", "miner_findings", "post_batch", "wait_for"]

MINER = "Impact:Runtime/CryptoMinerExecuted"
T = TypeVar("T")


def code_env() -> dict[str, str]:
    """Environment for ``python -m rtguard.cli`` subprocesses so they run this very code (the
    checkout the test imported), not another installed rtguard."""
    return {"PYTHONPATH": str(Path(rtguard.__file__).resolve().parents[1])}


def miner_event(t: int, *, container: str = "a" * 64, exe: str = "/tmp/xmrig") -> Event:
    """A crypto-miner exec in an ECS task's container (one MINER finding per container and exe)."""
    ev = exec_event(name="xmrig", exe_path=exe, argv=("xmrig", "-o", "stratum+tcp://pool:3333"), time=t)
    ecs = EcsTask(
        cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        task_arn=f"arn:aws:ecs:us-east-1:123456789012:task/prod/{container[:32]}",
    )
    fields = {f: getattr(ev, f) for f in ev.__dataclass_fields__}
    return Event(**{**fields, "container": Container(id=container, ecs=ecs)})


def post_batch(url: str, token: str, agent: str, seq: int, events: list[Event]) -> httpx.Response:
    """POST one batch as the agent's HTTP exporter does."""
    body = gzip.compress(
        json.dumps(encode_batch(Batch(agent_id=agent, seq=seq, events=tuple(events)))).encode()
    )
    return httpx.post(
        url + "/agent/v1/batches",
        content=body,
        headers={
            "authorization": f"Bearer {token}",
            "content-encoding": "gzip",
            "content-type": "application/json",
        },
        timeout=30,
    )


def guardduty(url: str, cred: dict[str, str]) -> Any:
    """A boto3 GuardDuty client for ``url`` with the issued keys."""
    return boto3.client(
        "guardduty",
        endpoint_url=url,
        region_name=cred["region"],
        aws_access_key_id=cred["aws_access_key_id"],
        aws_secret_access_key=cred["aws_secret_access_key"],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def miner_findings(gd: Any, detector: str) -> list[dict[str, Any]]:
    """Every crypto-miner finding of the detector, through the API."""
    ids = gd.list_findings(
        DetectorId=detector, FindingCriteria={"Criterion": {"type": {"Eq": [MINER]}}}, MaxResults=50
    )["FindingIds"]
    if not ids:
        return []
    found: list[dict[str, Any]] = gd.get_findings(DetectorId=detector, FindingIds=ids)["Findings"]
    return found


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` every 50 ms until it returns something other than None/False."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
