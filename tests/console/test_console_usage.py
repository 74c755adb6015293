"""The console's usage page: the same vCPU-hours and estimated cost as GetUsageStatistics, per
feature, account and resource, an administrator's Enabled members included, agent-supplied
resource names escaped, and the free-trial days left."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from fastapi import FastAPI

from rtguard.api import mount_api
from rtguard.console import ConsoleConfig, mount_console
from rtguard.store import SqlStore
from rtguard.store.org_types import Member
from rtguard.store.usage import Accrual, UsageCredit
from rtguard.testing.apiserver import serve_in_thread

from .conftest import IMG, REGION, SCRIPT, SESSION_KEY, signed_in_at

ADMIN = "100000000011"
MEMBER = "100000000012"
TASK = f"arn:aws:ecs:{REGION}:{ADMIN}:task/prod/{SCRIPT}{IMG}"


def _credit(store: SqlStore, account: str, feature: str, resource: str, vcpu_hours: float) -> None:
    hour = (time.time() // 3600 - 2) * 3600
    credit = UsageCredit(account_id=account, feature=feature, resource=resource, hour=hour,
                         vcpu_seconds=vcpu_hours * 3600)  # fmt: skip
    trial = (account, feature, time.time() - 3 * 86400)
    store.accrue_usage(f"agent-{account}-{resource}", lambda _c, _m: Accrual(outcome="credited", credits=(credit,),
                                                                           trial=trial))  # fmt: skip


@pytest.fixture
def usage_console(tmp_path: Any) -> Iterator[dict[str, Any]]:
    store = SqlStore(f"sqlite:///{tmp_path / 'rtguard.db'}")
    env: dict[str, Any] = {"store": store}
    for account in (ADMIN, MEMBER):
        store.create_account(account, REGION)
        key_id, secret = store.create_access_key(account)
        env[account] = {"key": key_id, "secret": secret, "detector": store.create_detector(account)}
    store.put_member(Member(ADMIN, MEMBER, "m@example.com", "Enabled", False, None, None, 1))
    _credit(store, ADMIN, "FARGATE_RUNTIME_MONITORING", TASK, 12.5)
    _credit(store, ADMIN, "EC2_RUNTIME_MONITORING", "i-0123456789abcdef0", 48.0)
    _credit(store, MEMBER, "EC2_RUNTIME_MONITORING", "i-0fedcba9876543210", 96.0)
    app = FastAPI()
    mount_console(app, store, ConsoleConfig(region=REGION, session_key=SESSION_KEY))
    mount_api(app, store, REGION)
    with serve_in_thread(app) as url:
        env["url"] = url
        yield env
    store.close()


def _signed_in(env: dict[str, Any], account: str) -> contextlib.AbstractContextManager[httpx.Client]:
    return signed_in_at(env["url"], env[account]["key"], env[account]["secret"])


def _api(env: dict[str, Any], account: str, statistic: str, unit: str) -> list[dict[str, Any]]:
    gd = boto3.client("guardduty", endpoint_url=env["url"], region_name=REGION,
                      aws_access_key_id=env[account]["key"], aws_secret_access_key=env[account]["secret"],
                      config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))  # fmt: skip
    out = gd.get_usage_statistics(DetectorId=env[account]["detector"], UsageStatisticType=statistic,
                                  UsageCriteria={"Features": ["FARGATE_RUNTIME_MONITORING", "EC2_RUNTIME_MONITORING",
                                                              "EKS_RUNTIME_MONITORING"]}, Unit=unit)  # fmt: skip
    key = {"SUM_BY_FEATURES": "SumByFeature", "SUM_BY_ACCOUNT": "SumByAccount"}[statistic]
    return list(out["UsageStatistics"][key])


def _row(html: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is ``first_cell``."""
    for chunk in html.split("<tr>")[1:]:
        cells = [c.split("</td>")[0].split(">", 1)[1] for c in chunk.split("<td")[1:]]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def test_usage_page_agrees_with_the_api_and_includes_members(usage_console: dict[str, Any]) -> None:
    with _signed_in(usage_console, ADMIN) as admin:
        html = admin.get("/console/usage").text
    assert "1 Enabled member account(s) are included" in html
    hours = {
        r["Feature"]: r["Total"]["Amount"]
        for r in _api(usage_console, ADMIN, "SUM_BY_FEATURES", "VCPU_HOURS")
    }
    usd = {r["Feature"]: r["Total"]["Amount"] for r in _api(usage_console, ADMIN, "SUM_BY_FEATURES", "USD")}
    assert float(hours["EC2_RUNTIME_MONITORING"]) == pytest.approx(48.0 + 96.0)
    for feature in ("EC2_RUNTIME_MONITORING", "FARGATE_RUNTIME_MONITORING"):
        cells = _row(html, feature)
        assert (cells[2], cells[3]) == (hours[feature], usd[feature])
    by_account = {
        r["AccountId"]: r["Total"]["Amount"] for r in _api(usage_console, ADMIN, "SUM_BY_ACCOUNT", "USD")
    }
    assert _row(html, MEMBER)[2] == by_account[MEMBER] and float(by_account[MEMBER]) > 0
    assert _row(html, "FARGATE_RUNTIME_MONITORING")[0] == "FARGATE_RUNTIME_MONITORING"
    assert _row(html, "EC2_RUNTIME_MONITORING")[2] == hours["EC2_RUNTIME_MONITORING"]
    # The trial started three days ago for the features this account used.
    assert '<td class="num">27</td>' in html or '<td class="num">28</td>' in html
    # An agent-supplied resource name is shown as text.
    assert SCRIPT not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_member_sees_only_its_own_usage(usage_console: dict[str, Any]) -> None:
    with _signed_in(usage_console, MEMBER) as member:
        html = member.get("/console/usage").text
    assert "member account(s) are included" not in html
    assert "i-0fedcba9876543210" in html and "i-0123456789abcdef0" not in html
    hours = {
        r["Feature"]: r["Total"]["Amount"]
        for r in _api(usage_console, MEMBER, "SUM_BY_FEATURES", "VCPU_HOURS")
    }
    assert _row(html, "EC2_RUNTIME_MONITORING")[2] == hours["EC2_RUNTIME_MONITORING"]
