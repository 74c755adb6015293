"""Fixtures for the console tests: a SqlStore seeded with two accounts (findings, one of them
full of hostile strings, agents with heartbeats and drops, coverage with issue strings), the
server's app (console and API) served by uvicorn on 127.0.0.1, and httpx sessions signed in
through the real sign-in form."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import pytest
from fastapi import FastAPI

from rtguard.api import mount_api
from rtguard.console import ConsoleConfig, mount_console
from rtguard.store import SqlStore
from rtguard.testing.apiserver import serve_in_thread

ACCOUNT: Final = "123456789012"
OTHER_ACCOUNT: Final = "210987654321"
REGION: Final = "us-west-2"
SESSION_KEY: Final = b"k" * 32
AGENT_TIMEOUT: Final = 60.0

SCRIPT: Final = "<script>alert(1)</script>"
IMG: Final = '"><img src=x onerror=alert(1)>'
JS_URL: Final = "javascript:alert(1)"
HOSTILE_ID: Final = 'h"><img src=x onerror=alert(1)>/?&#x'
HOSTILE_AGENT: Final = f"agent-{SCRIPT}{IMG}\n{JS_URL}"
RAW_PAYLOADS: Final = (SCRIPT, "<img src=x onerror=alert(1)>", '"><img')

TYPES: Final = (
    ("Impact:Runtime/CryptoMinerExecuted", 8.0, "xmrig", "/tmp/xmrig"),
    ("Execution:Runtime/ReverseShell", 9.2, "bash", "/usr/bin/bash"),
    ("Discovery:Runtime/SuspiciousCommand", 2.0, "nmap", "/usr/bin/nmap"),
    ("Execution:Runtime/NewBinaryExecuted", 5.0, "payload", "/var/tmp/payload"),
)
SEEDED: Final = 31  # findings of ACCOUNT besides the hostile one (more than one page of 25)


def _process(name: str, path: str, pid: int, at: str, lineage: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "executablePath": path,
        "executableSha256": hashlib.sha256(path.encode()).hexdigest(),
        "namespacePid": pid - 1000,
        "pwd": "/app",
        "pid": pid,
        "startTime": at,
        "uuid": f"proc-{pid}",
        "parentUuid": lineage[0]["uuid"] if lineage else None,
        "user": "root",
        "userId": 0,
        "euid": 0,
        "lineage": lineage,
    }


def finding(
    index: int,
    *,
    account: str,
    detector_id: str,
    finding_id: str | None = None,
    cluster: str | None = None,
) -> dict[str, Any]:
    """A GuardDuty-shaped runtime finding varying with ``index``."""
    type_, severity, proc, path = TYPES[index % len(TYPES)]
    at = f"2026-06-{1 + index % 9:02d}T08:{index % 60:02d}:00.000Z"
    fid = finding_id or hashlib.sha256(f"{account}-{index}".encode()).hexdigest()[:32]
    lineage = [
        {
            "name": "sh",
            "executablePath": "/bin/sh",
            "pid": 2000 + index,
            "uuid": f"sh-{index}",
            "userId": 0,
            "euid": 0,
        },
        {
            "name": "node",
            "executablePath": "/usr/local/bin/node",
            "pid": 1500,
            "uuid": "node-1",
            "userId": 1000,
            "euid": 1000,
        },
    ]
    name = cluster or ("prod", "staging")[index % 2]
    task = f"arn:aws:ecs:{REGION}:{account}:task/{name}/{index:032x}"
    container = {
        "containerRuntime": "containerd",
        "id": f"{index:064x}",
        "name": "app",
        "image": "python:3.12-slim",
    }
    return {
        "schemaVersion": "2.0",
        "accountId": account,
        "region": REGION,
        "partition": "aws",
        "id": fid,
        "arn": f"arn:aws:guardduty:{REGION}:{account}:detector/{detector_id}/finding/{fid}",
        "type": type_,
        "severity": severity,
        "title": f"{type_} in task {index}.",
        "description": f"Runtime activity {type_} was observed.",
        "createdAt": at,
        "updatedAt": at,
        "resource": {
            "resourceType": "ECSCluster",
            "ecsClusterDetails": {
                "name": name,
                "arn": f"arn:aws:ecs:{REGION}:{account}:cluster/{name}",
                "taskDetails": {"arn": task, "launchType": "FARGATE", "containers": [container]},
            },
            "containerDetails": container,
        },
        "service": {
            "serviceName": "guardduty",
            "detectorId": detector_id,
            "featureName": "RuntimeMonitoring",
            "archived": index % 10 == 9,
            "count": 1,
            "eventFirstSeen": at,
            "eventLastSeen": at,
            "runtimeDetails": {
                "process": _process(proc, path, 3000 + index, at, lineage),
                "context": {"commandLineExample": f"{proc} --run {index}"},
            },
        },
    }


def hostile_finding(*, detector_id: str) -> dict[str, Any]:
    """A finding whose process, paths, container, DNS name and agent id are attack strings."""
    doc = finding(2, account=ACCOUNT, detector_id=detector_id, finding_id=HOSTILE_ID)
    doc["createdAt"] = doc["updatedAt"] = "2026-06-30T23:00:00.000Z"
    doc["title"] = f"Suspicious {SCRIPT}"
    proc = doc["service"]["runtimeDetails"]["process"]
    proc["name"] = SCRIPT
    proc["executablePath"] = f"/tmp/{IMG}"
    proc["pwd"] = JS_URL
    proc["lineage"][0]["name"] = IMG
    proc["lineage"][0]["executablePath"] = JS_URL
    doc["service"]["runtimeDetails"]["context"] = {
        "commandLineExample": f"sh -c '{SCRIPT}'\n{IMG} {JS_URL}",
        "filePath": f"/etc/{IMG}",
    }
    doc["service"]["action"] = {
        "actionType": "DNS_REQUEST",
        "dnsRequestAction": {"domain": f"{SCRIPT}.evil.example", "protocol": "UDP", "blocked": False},
    }
    doc["service"]["additionalInfo"] = {
        "type": "default",
        "value": '{"agentDetails":{"agentId":"'
        + HOSTILE_AGENT.replace('"', '\\"').replace("\n", "\\n")
        + '"}}',
    }
    container = doc["resource"]["containerDetails"]
    container["name"] = IMG
    container["image"] = f"{JS_URL}//{SCRIPT}"
    doc["resource"]["ecsClusterDetails"]["name"] = SCRIPT
    return doc


def _beat(agent_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "agent_version": "0.1.0",
        "sensor": "ebpf",
        "blind_spots": [],
        "hostname": "node-1",
        "instance_id": "i-0123456789abcdef0",
        "resource": {"mode": "host", "cluster_arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"},
        "events_emitted": 1200,
        "events_sent": 1190,
        "dropped": {},
        "coalesced": 4,
        "processes_tracked": 88,
        "enabled": True,
        "disabled_reason": "",
        **extra,
    }


COVERAGE: Final = (
    {
        "resourceId": "prod",
        "accountId": ACCOUNT,
        "coverageStatus": "UNHEALTHY",
        "issue": "Agent not provisioned : Tasks started before enabling Runtime Monitoring require a relaunch. "
        "Impacted task ID(s): 'task-aaa, task-bbb'",
        "resourceDetails": {
            "resourceType": "ECS",
            "ecsClusterDetails": {
                "clusterName": "prod",
                "fargateDetails": {
                    "issues": [
                        "Agent not provisioned : Tasks started before enabling Runtime Monitoring require a "
                        "relaunch. Impacted task ID(s): 'task-aaa, task-bbb'",
                        "Agent not provisioned : Service 'checkout' requires a new deployment to "
                        "fix/troubleshoot. Refer documentation, Impacted service name(s): 'checkout'",
                        f"Agent not reporting : Agent not reporting for tasks in TaskDefinition - 'web:{SCRIPT}'. "
                        "Impacted task ID(s): 'task-ccc'",
                    ],
                    "managementType": "AUTO_MANAGED",
                },
            },
        },
    },
    {
        "resourceId": "i-0123456789abcdef0",
        "accountId": ACCOUNT,
        "coverageStatus": "HEALTHY",
        "issue": "",
        "resourceDetails": {
            "resourceType": "EC2",
            "ec2InstanceDetails": {
                "instanceId": "i-0123456789abcdef0",
                "agentDetails": {"version": "0.1.0"},
                "managementType": "MANUAL",
            },
        },
    },
)


@dataclass
class ConsoleEnv:
    """A running server with the console, and the seeded data."""

    url: str
    store: SqlStore
    detector: str
    key_id: str
    secret: str
    other_detector: str
    other_key_id: str
    other_secret: str
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    other_finding: str = ""

    def client(self) -> httpx.Client:
        """A fresh browser-like client without cookies."""
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)

    @contextlib.contextmanager
    def signed_in(self, *, key_id: str | None = None, secret: str | None = None) -> Iterator[httpx.Client]:
        """A client signed in through the sign-in form (the seeded account by default)."""
        with signed_in_at(self.url, key_id or self.key_id, secret or self.secret) as client:
            yield client


@contextlib.contextmanager
def signed_in_at(url: str, key_id: str, secret: str) -> Iterator[httpx.Client]:
    """A client of the console at ``url`` signed in through the sign-in form."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as client:
        response = sign_in(client, key_id, secret)
        assert response.status_code == 303, response.text
        yield client


CSRF_RE: Final = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = CSRF_RE.search(html)
    assert found is not None, "the page has no form with a csrf field"
    return found.group(1)


def sign_in(client: httpx.Client, key_id: str, secret: str, *, next_path: str = "") -> httpx.Response:
    """Fetch the sign-in form and post it."""
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post(
        "/console/login",
        data={
            "csrf": csrf_of(form.text),
            "access_key_id": key_id,
            "secret_access_key": secret,
            "next": next_path,
        },
    )


@pytest.fixture(scope="module")
def console_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleEnv]:
    store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('console') / 'rtguard.db'}")
    store.create_account(ACCOUNT, REGION)
    store.create_account(OTHER_ACCOUNT, REGION)
    key_id, secret = store.create_access_key(ACCOUNT)
    other_key, other_secret = store.create_access_key(OTHER_ACCOUNT)
    detector = store.create_detector(ACCOUNT)
    other_detector = store.create_detector(OTHER_ACCOUNT)
    docs: dict[str, dict[str, Any]] = {}
    for i in range(SEEDED):
        doc = finding(i, account=ACCOUNT, detector_id=detector)
        stored, _ = store.upsert_finding(ACCOUNT, detector, doc["id"], doc, doc["updatedAt"])
        if i % 4 == 0:  # recurring activity aggregates into the same finding
            stored, _ = store.upsert_finding(
                ACCOUNT, detector, doc["id"], doc, doc["updatedAt"].replace("T08:", "T09:")
            )
        docs[stored["id"]] = stored
    hostile = hostile_finding(detector_id=detector)
    docs[HOSTILE_ID], _ = store.upsert_finding(ACCOUNT, detector, HOSTILE_ID, hostile, hostile["updatedAt"])
    other = finding(5, account=OTHER_ACCOUNT, detector_id=other_detector, cluster="secret-cluster-of-b")
    store.upsert_finding(OTHER_ACCOUNT, other_detector, other["id"], other, other["updatedAt"])
    now = time.time()
    store.record_heartbeat(
        ACCOUNT,
        "agent-healthy",
        _beat("agent-healthy", dropped={"queue_full": 7, "sensor_ringbuf_full": 3}),
        enabled=True,
        now=now,
    )
    store.record_heartbeat(
        ACCOUNT,
        "agent-sidecar",
        _beat(
            "agent-sidecar",
            sensor="sidecar",
            blind_spots=["file events", "short-lived connections"],
            resource={
                "mode": "sidecar",
                "task_arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/abc",
                "family": "web",
            },
        ),
        enabled=True,
        now=now - 600,
    )
    store.record_heartbeat(
        ACCOUNT,
        HOSTILE_AGENT,
        _beat(
            HOSTILE_AGENT,
            sensor=SCRIPT,
            blind_spots=[IMG, JS_URL],
            hostname=IMG,
            dropped={SCRIPT: 2},
        ),
        enabled=True,
        now=now,
    )
    store.record_heartbeat(OTHER_ACCOUNT, "agent-of-b", _beat("agent-of-b"), enabled=True, now=now)
    store.save_coverage(ACCOUNT, detector, list(COVERAGE), now)
    app = FastAPI()
    mount_console(
        app, store, ConsoleConfig(region=REGION, agent_timeout=AGENT_TIMEOUT, session_key=SESSION_KEY)
    )
    mount_api(app, store, REGION)
    with serve_in_thread(app) as url:
        yield ConsoleEnv(
            url=url,
            store=store,
            detector=detector,
            key_id=key_id,
            secret=secret,
            other_detector=other_detector,
            other_key_id=other_key,
            other_secret=other_secret,
            findings=docs,
            other_finding=other["id"],
        )
    store.close()


@pytest.fixture(scope="module")
def browser_session(console_env: ConsoleEnv) -> Iterator[httpx.Client]:
    with console_env.signed_in() as client:
        yield client
