"""Fixtures for the API tests: a SqlStore seeded with GuardDuty-shaped runtime findings (on SQLite
and on a real PostgreSQL server: every API test runs on both), served by uvicorn on 127.0.0.1, and
boto3 GuardDuty clients signed with the keys the store issued."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from fastapi import FastAPI

from rtguard.api import mount_api
from rtguard.store import SqlStore
from rtguard.testing.apiserver import serve_in_thread
from rtguard.testing.postgres import STORE_BACKENDS, store_url

ACCOUNT = "123456789012"
REGION = "us-west-2"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})

_TYPES = (
    ("Impact:Runtime/CryptoMinerExecuted", 8.0, "xmrig", "/tmp/xmrig"),
    ("Execution:Runtime/ReverseShell", 8.0, "bash", "/usr/bin/bash"),
    ("Discovery:Runtime/SuspiciousCommand", 2.0, "nmap", "/usr/bin/nmap"),
    ("Execution:Runtime/NewBinaryExecuted", 5.0, "payload", "/var/tmp/payload"),
    ("Backdoor:Runtime/C&CActivity.B!DNS", 8.0, "curl", "/usr/bin/curl"),
)


def _process(name: str, path: str, pid: int, start: str, lineage: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "executablePath": path,
        "executableSha256": hashlib.sha256(path.encode()).hexdigest(),
        "namespacePid": pid - 1000,
        "pwd": "/app",
        "pid": pid,
        "startTime": start,
        "uuid": f"proc-{pid}",
        "parentUuid": lineage[0]["uuid"] if lineage else None,
        "user": "root",
        "userId": 0,
        "euid": 0,
        "lineage": lineage,
    }


def runtime_finding(index: int, *, detector_id: str) -> dict[str, Any]:
    """A plausible GuardDuty Runtime Monitoring finding; varies deterministically with ``index``."""
    type_, severity, proc, path = _TYPES[index % len(_TYPES)]
    day = 1 + index % 9
    at = f"2024-06-{day:02d}T08:{index % 60:02d}:00.000Z"
    finding_id = hashlib.sha256(f"finding-{index}".encode()).hexdigest()[:32]
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
    context: dict[str, Any] = {}
    if type_.startswith("Discovery"):
        context = {"commandLineExample": "nmap -sS 10.0.0.0/24"}
    if index % 7 == 3:  # an EC2 host finding
        resource: dict[str, Any] = {
            "resourceType": "Instance",
            "instanceDetails": {
                "instanceId": f"i-0abc{index:04d}",
                "instanceType": "m5.large",
                "imageId": "ami-0123",
            },
        }
    else:
        cluster = ("prod", "staging")[index % 2]
        task = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{index:032x}"
        image = ("public.ecr.aws/nginx/nginx:1.25", "python:3.12-slim", "node:20")[index % 3]
        container = {"containerRuntime": "containerd", "id": f"{index:064x}", "name": "app", "image": image}
        resource = {
            "resourceType": "ECSCluster",
            "ecsClusterDetails": {
                "name": cluster,
                "arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}",
                "taskDetails": {
                    "arn": task,
                    "definitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:{1 + index % 3}",
                    "launchType": "FARGATE",
                    "containers": [container],
                },
            },
            "containerDetails": container,
        }
    return {
        "schemaVersion": "2.0",
        "accountId": ACCOUNT,
        "region": REGION,
        "partition": "aws",
        "id": finding_id,
        "arn": f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{detector_id}/finding/{finding_id}",
        "type": type_,
        "severity": severity,
        "title": f"{type_} in {resource['resourceType']}.",
        "description": f"Runtime activity {type_} was observed.",
        "createdAt": at,
        "updatedAt": at,
        "resource": resource,
        "service": {
            "serviceName": "guardduty",
            "detectorId": detector_id,
            "featureName": "RuntimeMonitoring",
            "archived": index % 10 == 9,
            "count": 1,
            "eventFirstSeen": at,
            "eventLastSeen": at,
            "additionalInfo": {"type": "default", "value": '{"agentDetails":{"agentVersion":"0.1.0"}}'},
            "runtimeDetails": {
                "process": _process(proc, path, 3000 + index, at, lineage),
                "context": context,
            },
        },
    }


@dataclass
class ApiEnv:
    """A running API server and what the tests need to talk to it."""

    url: str
    store: SqlStore
    detector: str
    key_id: str
    secret: str
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def client(self, *, key_id: str | None = None, secret: str | None = None, **config: Any) -> Any:
        """A boto3 GuardDuty client for this server (by default with the seeded keys)."""
        return boto3.client(
            "guardduty",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key_id or self.key_id,
            aws_secret_access_key=secret or self.secret,
            config=NO_RETRY.merge(Config(**config)) if config else NO_RETRY,
        )

    def signed(
        self, method: str, path: str, body: bytes = b"", *, region: str = REGION, service: str = "guardduty"
    ) -> httpx.Response:
        """Send a request signed by botocore's SigV4Auth (for payloads boto3 cannot serialize)."""
        request = AWSRequest(
            method=method, url=self.url + path, data=body, headers={"Content-Type": "application/json"}
        )
        SigV4Auth(Credentials(self.key_id, self.secret), service, region).add_auth(request)
        return httpx.request(method, self.url + path, content=body, headers=dict(request.headers.items()))


SEEDED = 37


@pytest.fixture(scope="module", params=STORE_BACKENDS)
def api_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    store = SqlStore(store_url(request, str(request.param), tmp_path_factory.mktemp("api") / "rtguard.db"))
    store.create_account(ACCOUNT, REGION)
    key_id, secret = store.create_access_key(ACCOUNT)
    detector = store.create_detector(ACCOUNT)
    findings: dict[str, dict[str, Any]] = {}
    for i in range(SEEDED):
        doc = runtime_finding(i, detector_id=detector)
        stored, _ = store.upsert_finding(ACCOUNT, detector, doc["id"], doc, doc["updatedAt"])
        if i % 4 == 0:  # recurring activity aggregates into the same finding
            later = doc["updatedAt"].replace("T08:", "T09:")
            stored, _ = store.upsert_finding(ACCOUNT, detector, doc["id"], doc, later)
        findings[stored["id"]] = stored
    app = FastAPI()
    mount_api(app, store, REGION)
    with serve_in_thread(app) as url:
        yield ApiEnv(url=url, store=store, detector=detector, key_id=key_id, secret=secret, findings=findings)
    store.close()


@pytest.fixture(scope="module")
def gd(api_env: ApiEnv) -> Any:
    return api_env.client()
