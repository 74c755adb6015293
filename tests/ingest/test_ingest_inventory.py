"""The controller's endpoints: inventory reports (auth, shape, size) and the settings answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from rtguard.ingest.inventory import build_inventory_router
from rtguard.store.sqlite import SqlStore
from rtguard.testing.apiserver import serve_in_thread

ACCOUNT = "123456789012"
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[httpx.Client, SqlStore, str, list[int]]]:
    store = SqlStore(f"sqlite:///{tmp_path / 'inv.db'}")
    store.create_account(ACCOUNT, "us-east-1")
    token = store.create_agent_token(ACCOUNT)
    reports: list[int] = []
    app = FastAPI()
    app.include_router(
        build_inventory_router(
            store,
            on_report=lambda: reports.append(1),
            settings_of=lambda account: {
                "runtimeMonitoring": account == ACCOUNT,
                "ecsFargateAgentManagement": False,
            },
        )
    )
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        yield client, store, token, reports
    store.close()


def test_report_is_saved_and_settings_are_answered(
    env: tuple[httpx.Client, SqlStore, str, list[int]],
) -> None:
    client, store, token, reports = env
    auth = {"authorization": f"Bearer {token}"}
    r = client.post(
        "/agent/v1/inventory", json={"clusters": [{"clusterArn": CLUSTER}], "instances": []}, headers=auth
    )
    assert r.status_code == 200 and r.json() == {"clusters": 1, "instances": 0}
    assert reports == [1]
    assert [rec.key for rec in store.list_inventory(ACCOUNT)] == [CLUSTER]
    s = client.get("/agent/v1/settings", headers=auth)
    assert s.status_code == 200 and s.json() == {
        "runtimeMonitoring": True,
        "ecsFargateAgentManagement": False,
    }


@pytest.mark.parametrize(
    ("body", "token", "status", "fragment"),
    [
        ({"clusters": []}, "wrong", 401, "token"),
        ([1, 2], "T", 400, "JSON object"),
        ({"clusters": [{"clusterArn": "not-an-arn"}]}, "T", 400, "clusterArn"),
        ({"clusters": [{"clusterArn": CLUSTER, "issues": [1]}]}, "T", 400, "issues"),
    ],
)
def test_bad_reports_are_refused(
    env: tuple[httpx.Client, SqlStore, str, list[int]], body: object, token: str, status: int, fragment: str
) -> None:
    client, store, real, reports = env
    r = client.post(
        "/agent/v1/inventory",
        json=body,
        headers={"authorization": f"Bearer {real if token == 'T' else token}"},
    )
    assert r.status_code == status and fragment in r.json()["message"]
    assert reports == [] and store.list_inventory(ACCOUNT) == []
    assert client.get("/agent/v1/settings").status_code == 401
