"""The console for an administrator account: its Enabled members' findings, agents and coverage
appear beside its own and it archives members' findings; a member sees only its own and cannot
archive (GuardDuty's rule, enforced by the same API handler)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rtguard.api import mount_api
from rtguard.console import ConsoleConfig, mount_console
from rtguard.store import SqlStore
from rtguard.store.org_types import Member
from rtguard.testing.apiserver import serve_in_thread

from .conftest import REGION, SESSION_KEY, _beat, csrf_of, finding, signed_in_at

ADMIN = "100000000001"
MEMBER = "100000000002"


@pytest.fixture
def org_console(tmp_path: Any) -> Iterator[dict[str, Any]]:
    store = SqlStore(f"sqlite:///{tmp_path / 'rtguard.db'}")
    env: dict[str, Any] = {"store": store}
    for account in (ADMIN, MEMBER):
        store.create_account(account, REGION)
        key_id, secret = store.create_access_key(account)
        detector = store.create_detector(account)
        doc = finding(1 if account == ADMIN else 2, account=account, detector_id=detector,
                      cluster=f"cluster-of-{account}")  # fmt: skip
        store.upsert_finding(account, detector, doc["id"], doc, doc["updatedAt"])
        store.record_heartbeat(account, f"agent-of-{account}", _beat(f"agent-of-{account}"), enabled=True,
                               now=time.time())  # fmt: skip
        env[account] = {"key": key_id, "secret": secret, "detector": detector, "finding": doc["id"]}
    store.put_member(Member(ADMIN, MEMBER, "m@example.com", "Enabled", False, None, None, 1))
    app = FastAPI()
    mount_console(app, store, ConsoleConfig(region=REGION, session_key=SESSION_KEY))
    mount_api(app, store, REGION)
    with serve_in_thread(app) as url:
        env["url"] = url
        yield env
    store.close()


def _client(env: dict[str, Any], account: str) -> contextlib.AbstractContextManager[httpx.Client]:
    return signed_in_at(env["url"], env[account]["key"], env[account]["secret"])


def test_administrator_sees_and_archives_member_findings(org_console: dict[str, Any]) -> None:
    theirs = org_console[MEMBER]["finding"]
    with _client(org_console, ADMIN) as admin:
        listed = admin.get("/console/findings").text
        assert org_console[ADMIN]["finding"] in listed and theirs in listed
        assert f"agent-of-{MEMBER}" in admin.get("/console/agents").text
        detail = admin.get("/console/finding", params={"id": theirs})
        assert detail.status_code == 200 and f"cluster-of-{MEMBER}" in detail.text
        token = csrf_of(detail.text.split('action="/console/finding/archive"', 1)[1])
        done = admin.post("/console/finding/archive", data={"csrf": token, "id": theirs, "action": "archive"})
        assert done.status_code == 303
    stored = org_console["store"].get_findings(org_console[MEMBER]["detector"], [theirs])[0]
    assert stored["service"]["archived"] is True
    with _client(org_console, MEMBER) as member:
        listed = member.get("/console/findings", params={"status": "all"}).text
        assert theirs in listed and org_console[ADMIN]["finding"] not in listed
        assert f"agent-of-{ADMIN}" not in member.get("/console/agents").text
        detail = member.get("/console/finding", params={"id": theirs})
        token = csrf_of(detail.text.split('action="/console/finding/archive"', 1)[1])
        refused = member.post(
            "/console/finding/archive", data={"csrf": token, "id": theirs, "action": "unarchive"}
        )
        assert refused.status_code == 400
        assert "archive findings from their accounts" in refused.text.replace("&#39;", "'")
