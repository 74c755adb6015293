"""Fixtures for the findings-lifecycle tests: a GuardDuty API served by uvicorn on 127.0.0.1 with
the real lifecycle (suppression + publisher), boto3 clients for it, and local receivers (an HTTP
webhook, a UDP syslog socket) that collect what is published."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
from rtguard.findings.lifecycle import FindingsLifecycle, build_lifecycle
from rtguard.store import SqlStore
from rtguard.testing.apiserver import serve_in_thread
from rtguard.testing.receiver import Receiver, webhook_receiver

ACCOUNT = "210987654321"
REGION = "eu-central-1"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@dataclass
class LifecycleEnv:
    """A running API with the lifecycle, and what tests need to talk to it."""

    url: str
    store: SqlStore
    detector: str
    key_id: str
    secret: str
    lifecycle: FindingsLifecycle
    export_root: Path

    def client(self, *, validate: bool = True) -> Any:
        """boto3 GuardDuty client; ``validate=False`` sends what botocore would refuse itself."""
        return boto3.client(
            "guardduty",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            config=NO_RETRY.merge(Config(parameter_validation=validate)),
        )

    def signed(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        """A SigV4-signed request with a body boto3 could not serialize."""
        data = json.dumps(body).encode()
        request = AWSRequest(
            method=method, url=self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        SigV4Auth(Credentials(self.key_id, self.secret), "guardduty", REGION).add_auth(request)
        return httpx.request(method, self.url + path, content=data, headers=dict(request.headers.items()))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[LifecycleEnv]:
    store = SqlStore(f"sqlite:///{tmp_path / 'rtguard.db'}")
    store.create_account(ACCOUNT, REGION)
    key_id, secret = store.create_access_key(ACCOUNT)
    detector = store.create_detector(ACCOUNT)
    export_root = tmp_path / "exports"
    lifecycle = build_lifecycle(store, export_root=export_root)
    lifecycle.start()
    app = FastAPI()
    mount_api(app, store, REGION, hooks=lifecycle)
    try:
        with serve_in_thread(app) as url:
            yield LifecycleEnv(url, store, detector, key_id, secret, lifecycle, export_root)
    finally:
        lifecycle.stop()
        store.close()


@pytest.fixture
def gd(env: LifecycleEnv) -> Any:
    return env.client()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as rec:
        yield rec


@pytest.fixture
def syslog_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()
