"""Fixtures for the store tests: a SqlStore with one account on each backend (a SQLite file and a
fresh database on a real PostgreSQL server), and a finding builder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtguard.store import SqlStore
from rtguard.testing.postgres import STORE_BACKENDS, store_url

ACCOUNT = "111122223333"
REGION = "eu-west-1"

FindingFactory = Callable[..., dict[str, Any]]


@pytest.fixture(params=STORE_BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, str(request.param), tmp_path / "rtguard.db")


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = SqlStore(db_url)
    s.create_account(ACCOUNT, REGION)
    yield s
    s.close()


@pytest.fixture
def make_finding() -> FindingFactory:
    """Build a small GuardDuty-shaped runtime finding document."""

    def build(
        finding_id: str,
        *,
        type_: str = "Impact:Runtime/CryptoMinerExecuted",
        severity: float = 8.0,
        at: str = "2024-05-01T10:00:00.000Z",
        cluster: str = "prod",
        process: str = "xmrig",
        lineage: tuple[str, ...] = ("sh", "containerd-shim"),
        archived: bool | None = False,
    ) -> dict[str, Any]:
        service: dict[str, Any] = {
            "serviceName": "guardduty",
            "featureName": "RuntimeMonitoring",
            "eventFirstSeen": at,
            "eventLastSeen": at,
            "runtimeDetails": {
                "process": {
                    "name": process,
                    "executablePath": f"/usr/bin/{process}",
                    "lineage": [{"name": n, "pid": 10 + i} for i, n in enumerate(lineage)],
                }
            },
        }
        if archived is not None:
            service["archived"] = archived
        return {
            "id": finding_id,
            "accountId": ACCOUNT,
            "region": REGION,
            "type": type_,
            "severity": severity,
            "createdAt": at,
            "updatedAt": at,
            "resource": {"resourceType": "ECSCluster", "ecsClusterDetails": {"name": cluster}},
            "service": service,
        }

    return build
