"""Helpers for end-to-end behaviour tests: a real ``rtguard server`` and ``rtguard agent`` with a
fake ECS agent endpoint and a boto3 GuardDuty client, runc containers registered as ECS tasks,
and reading back the findings of one container through the GuardDuty API.

Same steps as ``tests/e2e/test_e2e_behaviours.py`` does inline, shared so that new e2e files do
not copy them again. Test helper only: production code must not import it. Needs root (runc,
BPF); callers check with ``rtguard.testing.privilege.require_root`` first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from rtguard.testing.containers import RuncContainer, new_container_id
from rtguard.testing.ecs_fake import FakeEcsContainer, FakeEcsEndpoints, FakeEcsTask
from rtguard.testing.stack import AgentProcess, ServerProcess

__all__ = ["E2EStack", "e2e_stack", "ecs_container", "findings_of", "wait_for_types"]

CLUSTER = "prod"


@dataclass
class E2EStack:
    """A running server and agent, the fake ECS endpoints, the credentials and a boto3 client."""

    server: ServerProcess
    agent: AgentProcess
    ecs: FakeEcsEndpoints
    cred: dict[str, str]
    gd: Any

    @property
    def detector_id(self) -> str:
        return self.cred["detector_id"]


@contextmanager
def e2e_stack(workdir: Path) -> Iterator[E2EStack]:
    """Start the server and the agent under ``workdir``; stop both on exit."""
    with FakeEcsEndpoints(cluster=CLUSTER) as ecs:
        server = ServerProcess(workdir / "server").start()
        try:
            cred = server.credentials()
            agent = AgentProcess(server.url, cred["agent_token"], workdir / "agent", ecs_agent_uri=ecs.url)
            try:
                agent.start()
                gd = boto3.client(
                    "guardduty",
                    endpoint_url=server.url,
                    region_name=cred["region"],
                    aws_access_key_id=cred["aws_access_key_id"],
                    aws_secret_access_key=cred["aws_secret_access_key"],
                )
                yield E2EStack(server=server, agent=agent, ecs=ecs, cred=cred, gd=gd)
            finally:
                agent.stop()
        finally:
            server.stop()


def ecs_container(stack: E2EStack, family: str, **kw: Any) -> RuncContainer:
    """A (not yet started) runc container registered as container ``app`` of a new ECS task."""
    cid = new_container_id()
    task = stack.ecs.add_task(
        FakeEcsTask(
            cluster=CLUSTER,
            family=family,
            containers=[FakeEcsContainer(docker_id=cid, name="app", image="public.ecr.aws/acme/app:1")],
        )
    )
    return RuncContainer(task_id=task.task_id, container_id=cid, **kw)


def findings_of(gd: Any, detector: str, container_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every finding whose resource names ``container_id``, by type (``list_findings`` paged,
    then ``get_findings`` 50 at a time)."""
    ids: list[str] = []
    token = ""
    while True:
        page = gd.list_findings(DetectorId=detector, MaxResults=50, NextToken=token)
        ids += page["FindingIds"]
        token = page.get("NextToken", "")
        if not token:
            break
    out: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(ids), 50):
        for f in gd.get_findings(DetectorId=detector, FindingIds=ids[i : i + 50])["Findings"]:
            if container_id in json.dumps(f["Resource"]):
                out.setdefault(f["Type"], []).append(f)
    return out


def wait_for_types(
    gd: Any, detector: str, container_id: str, types: set[str], timeout: float = 40.0
) -> dict[str, list[dict[str, Any]]]:
    """``findings_of`` polled every 0.5 s until every type in ``types`` is there or ``timeout``
    seconds passed; returns what was found last (the caller checks what is missing)."""
    deadline = time.monotonic() + timeout
    found: dict[str, list[dict[str, Any]]] = {}
    while True:
        found = findings_of(gd, detector, container_id)
        if types <= set(found) or time.monotonic() >= deadline:
            return found
        time.sleep(0.5)
