"""Usage end to end: real agent heartbeats (the agent's own payload and HTTP exporter) POSTed to
the server's ingest endpoint, metered into SQLite, then read back with boto3 and the AWS CLI
(GetUsageStatistics, GetRemainingFreeTrialDays); a fake clock drives time on the server side.
Bad input of each kind gets BadRequestException with a message saying what is wrong."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from fastapi import FastAPI

from rtguard.agent.app import ENV_EKS_CLUSTER, AgentConfig, AgentState, heartbeat_payload, step_host
from rtguard.agent.export.http import AgentIdentity, HttpExporter
from rtguard.agent.export.spool import DiskSpool
from rtguard.api import mount_api
from rtguard.bus.memory import MemoryBus
from rtguard.coverage.monitor import CoverageConfig, CoverageMonitor
from rtguard.ingest.routes import AgentRegistry, build_ingest_router
from rtguard.server import ServerConfig, build_server
from rtguard.store.sqlite import SqlStore
from rtguard.testing.apiserver import serve_in_thread
from rtguard.usage.meter import UsageMeter, metering_hook

from .conftest import NO_RETRY, REGION
from .test_api_cli import AWS

ACCOUNT = "123456789012"
OTHER = "999999999999"
T0 = datetime(2026, 3, 10, tzinfo=UTC).timestamp()  # March: 744 hours
DAY = 86_400.0
TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/0123456789abcdef0123456789abcdef"
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"
NCPU = os.cpu_count() or 1
EC2, EKS, FARGATE = "EC2_RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING", "FARGATE_RUNTIME_MONITORING"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def dt(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


class Agent:
    """A real agent's heartbeat path: its payload builder and HTTP exporter (no sensor)."""

    def __init__(
        self,
        url: str,
        token: str,
        state_dir: Path,
        *,
        instance: str = "",
        identity: dict[str, str] | None = None,
    ) -> None:
        config = AgentConfig(server=url, token=token, spool_dir=state_dir, instance_id=instance)
        self.state = AgentState(config=config, identity=dict(identity or {}))
        step_host(self.state)
        self.state.exporter = HttpExporter(
            url, token, DiskSpool(state_dir / "spool"), AgentIdentity(state_dir)
        )
        self.last: dict[str, Any] = {}

    def beat(self, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
        assert self.state.exporter is not None
        payload = {k: v for k, v in heartbeat_payload(self.state).items() if k not in drop}
        self.last = payload
        answer = self.state.exporter.heartbeat(payload)
        assert answer is not None, "the server refused the heartbeat"
        return answer

    def again(self) -> dict[str, Any]:
        """Deliver the previous heartbeat a second time (a retry)."""
        assert self.state.exporter is not None
        answer = self.state.exporter.heartbeat(self.last)
        assert answer is not None
        return answer

    def close(self) -> None:
        if self.state.exporter is not None:
            self.state.exporter.shutdown(1.0)


@dataclass
class UsageEnv:
    url: str
    store: SqlStore
    clock: Clock
    meter: UsageMeter
    detector: str
    key_id: str
    secret: str
    token: str
    root: Path

    def client(self) -> Any:
        return boto3.client("guardduty", endpoint_url=self.url, region_name=REGION, aws_access_key_id=self.key_id,
                            aws_secret_access_key=self.secret, config=NO_RETRY)  # fmt: skip

    def agent(self, name: str, **kwargs: Any) -> Agent:
        return Agent(self.url, self.token, self.root / name, **kwargs)


@contextlib.contextmanager
def usage_server(root: Path) -> Iterator[UsageEnv]:
    clock = Clock(T0)
    store = SqlStore(f"sqlite:///{root / 'rtguard.db'}", clock=clock.dt)
    store.create_account(ACCOUNT, REGION)
    key_id, secret = store.create_access_key(ACCOUNT)
    detector = store.create_detector(ACCOUNT)  # Runtime Monitoring on, Fargate and EC2 automated
    token = store.create_agent_token(ACCOUNT)
    coverage = CoverageMonitor(store, CoverageConfig(agent_timeout=60.0), clock=clock)
    meter = UsageMeter(store, timeout=60.0, clock=clock)
    app = FastAPI()
    hook = metering_hook(coverage.on_heartbeat, meter)
    app.include_router(build_ingest_router(store, MemoryBus(), AgentRegistry(), heartbeat_hook=hook))
    mount_api(app, store, REGION)
    with serve_in_thread(app) as url:
        yield UsageEnv(url=url, store=store, clock=clock, meter=meter, detector=detector, key_id=key_id,
                       secret=secret, token=token, root=root)  # fmt: skip
    store.close()


def _run_scenario(env: UsageEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two host agents on one EC2 instance, a Fargate sidecar, an old host agent without
    ``host_vcpus`` for a minute from T0; an EKS node for a minute two days later."""
    h1, h2 = env.agent("h1", instance="i-0aaa"), env.agent("h2", instance="i-0aaa")
    s1 = env.agent("s1", identity={"mode": "sidecar", "task_arn": TASK, "cluster_arn": CLUSTER,
                                   "family": "web", "revision": "3", "task_cpu": "0.5", "task_memory": "1024"})  # fmt: skip
    old = env.agent("old", instance="i-0old")
    k1 = env.agent("k1", instance="i-0eks")
    try:
        for i in range(13):  # 0, 5, ..., 60 s
            env.clock.now = T0 + 5 * i
            assert h1.beat()["enabled"] is True
            assert s1.beat()["enabled"] is True
            assert old.beat(drop=("host_vcpus", "eks_cluster_name"))["enabled"] is True
            if i < 12:
                env.clock.now = T0 + 5 * i + 2.5
                h2.beat()
        env.clock.now = T0 + 61
        h1.again()  # a retried heartbeat adds nothing
        monkeypatch.setenv(ENV_EKS_CLUSTER, "prod-eks")
        for i in range(13):
            env.clock.now = T0 + 2 * DAY + 5 * i
            k1.beat()
        monkeypatch.delenv(ENV_EKS_CLUSTER)
    finally:
        for agent in (h1, h2, s1, old, k1):
            agent.close()
    env.clock.now = T0 + 10 * DAY + 3600


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsageEnv]:
    with pytest.MonkeyPatch.context() as mp, usage_server(tmp_path_factory.mktemp("usage")) as env:
        _run_scenario(env, mp)
        yield env


def _usd(vcpu_seconds: float) -> Decimal:
    """The expected cost below 500 vCPU-months: vCPU-hours ÷ 744 (March) × $1.50."""
    return Decimal(vcpu_seconds) / 3600 / 744 * Decimal("1.5")


def _close(amount: str, expected: Decimal) -> bool:
    return abs(Decimal(amount) - expected) <= Decimal("0.00000001")


def _stats(gd: Any, env: UsageEnv, kind: str, criteria: dict[str, Any] | None = None, **kw: Any) -> Any:
    return gd.get_usage_statistics(
        DetectorId=env.detector, UsageStatisticType=kind, UsageCriteria=criteria or {}, **kw
    )


def test_sum_by_feature_in_dollars_and_vcpu_hours(scenario: UsageEnv) -> None:
    gd = scenario.client()
    usd = _stats(gd, scenario, "SUM_BY_FEATURES", Unit="USD")["UsageStatistics"]["SumByFeature"]
    by_feature = {r["Feature"]: r["Total"] for r in usd}
    assert set(by_feature) == {EC2, EKS, FARGATE}
    assert all(t["Unit"] == "USD" for t in by_feature.values())
    # EC2: one instance seen by two agents for 60 s is 60 s, not 120; the old agent adds nothing.
    assert _close(by_feature[EC2]["Amount"], _usd(60 * NCPU)), by_feature
    assert _close(by_feature[EKS]["Amount"], _usd(60 * NCPU))
    assert _close(by_feature[FARGATE]["Amount"], _usd(60 * 0.5))
    hours = _stats(gd, scenario, "SUM_BY_FEATURES", {"Features": [FARGATE, EC2]}, Unit="VCPU_HOURS")
    got = {r["Feature"]: r["Total"] for r in hours["UsageStatistics"]["SumByFeature"]}
    assert set(got) == {EC2, FARGATE} and got[EC2]["Unit"] == "VCPU_HOURS"
    assert _close(got[EC2]["Amount"], Decimal(60 * NCPU) / 3600)
    assert _close(got[FARGATE]["Amount"], Decimal(30) / 3600)


def test_resources_accounts_top_lists_and_paging(scenario: UsageEnv) -> None:
    gd = scenario.client()
    resources = _stats(gd, scenario, "SUM_BY_RESOURCE")["UsageStatistics"]["SumByResource"]
    assert [r["Resource"] for r in resources] == [TASK, "i-0aaa", "i-0eks"]
    top = _stats(gd, scenario, "TOP_RESOURCES")["UsageStatistics"]["TopResources"]
    assert [r["Resource"] for r in top] == ["i-0aaa", "i-0eks", TASK]
    only = _stats(gd, scenario, "SUM_BY_RESOURCE", {"Resources": ["i-0eks", "i-unknown"]})
    assert [r["Resource"] for r in only["UsageStatistics"]["SumByResource"]] == ["i-0eks"]
    accounts = _stats(gd, scenario, "SUM_BY_ACCOUNT", {"AccountIds": [ACCOUNT]})["UsageStatistics"][
        "SumByAccount"
    ]
    total = sum((Decimal(r["Total"]["Amount"]) for r in resources), Decimal(0))
    assert [a["AccountId"] for a in accounts] == [ACCOUNT]
    assert _close(accounts[0]["Total"]["Amount"], total)
    assert _close(accounts[0]["Total"]["Amount"], _usd(120 * NCPU + 30))
    ranked = _stats(gd, scenario, "TOP_ACCOUNTS_BY_FEATURE")["UsageStatistics"]["TopAccountsByFeature"]
    assert [(r["Feature"], [a["AccountId"] for a in r["Accounts"]]) for r in ranked] == [
        (EC2, [ACCOUNT]), (EKS, [ACCOUNT]), (FARGATE, [ACCOUNT])]  # fmt: skip
    assert _stats(gd, scenario, "SUM_BY_DATA_SOURCE")["UsageStatistics"]["SumByDataSource"] == []
    legacy = _stats(gd, scenario, "SUM_BY_FEATURES", {"DataSources": ["FLOW_LOGS"]})
    assert legacy["UsageStatistics"]["SumByFeature"] == []
    # Paging: one resource a page, in the same order as unpaged.
    seen, token = [], None
    for _ in range(5):
        page = _stats(
            gd, scenario, "SUM_BY_RESOURCE", MaxResults=1, **({"NextToken": token} if token else {})
        )
        seen += [r["Resource"] for r in page["UsageStatistics"]["SumByResource"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == [TASK, "i-0aaa", "i-0eks"] and token is None


def test_remaining_free_trial_days(scenario: UsageEnv) -> None:
    gd = scenario.client()
    answer = gd.get_remaining_free_trial_days(DetectorId=scenario.detector, AccountIds=[ACCOUNT, OTHER])
    (account,) = answer["Accounts"]
    days = {f["Name"]: f["FreeTrialDaysRemaining"] for f in account["Features"]}
    # Now is 10 days and an hour after the EC2 and Fargate trials started, 8 days after EKS's.
    assert account["AccountId"] == ACCOUNT and days == {EC2: 20, FARGATE: 20, EKS: 22}
    assert [u["AccountId"] for u in answer["UnprocessedAccounts"]] == [OTHER]
    assert "cannot access usage" in answer["UnprocessedAccounts"][0]["Result"]


def test_window_is_the_last_30_days_and_disabled_monitoring_is_free(tmp_path: Path) -> None:
    with usage_server(tmp_path) as env:
        gd = env.client()
        agent = env.agent("h1", instance="i-0aaa")
        try:
            for i in range(3):
                env.clock.now = T0 + 10 * i
                agent.beat()
            gd.update_detector(
                DetectorId=env.detector, Features=[{"Name": "RUNTIME_MONITORING", "Status": "DISABLED"}]
            )
            for i in range(3, 6):
                env.clock.now = T0 + 10 * i
                assert agent.beat()["enabled"] is False
            gd.update_detector(
                DetectorId=env.detector, Features=[{"Name": "RUNTIME_MONITORING", "Status": "ENABLED"}]
            )
            for i in range(6, 9):
                env.clock.now = T0 + 10 * i
                assert agent.beat()["enabled"] is True
        finally:
            agent.close()
        hours = _stats(gd, env, "SUM_BY_RESOURCE", Unit="VCPU_HOURS")["UsageStatistics"]["SumByResource"]
        # 0→20 s, then 60→80 s: the disabled stretch (and the switches' intervals) is not billed.
        assert len(hours) == 1 and _close(hours[0]["Total"]["Amount"], Decimal(40 * NCPU) / 3600)
        env.clock.now = T0 + 31 * DAY
        assert _stats(gd, env, "SUM_BY_RESOURCE")["UsageStatistics"]["SumByResource"] == []
        trial = gd.get_remaining_free_trial_days(DetectorId=env.detector, AccountIds=[ACCOUNT])
        days = {f["Name"]: f["FreeTrialDaysRemaining"] for f in trial["Accounts"][0]["Features"]}
        assert days == {EC2: 0, FARGATE: 30, EKS: 30}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"usageStatisticsType": "SUM_BY_COLOUR", "usageCriteria": {}},
            "usageStatisticsType is 'SUM_BY_COLOUR'",
        ),
        ({"usageCriteria": {}}, "usageStatisticsType is missing"),
        ({"usageStatisticsType": "SUM_BY_ACCOUNT"}, "usageCriteria is required"),
        ({"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": []}, "usageCriteria is required"),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {"accountIds": [OTHER]}},
            f"usage of account(s) {OTHER}",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {"accountIds": ["12"]}},
            "not a 12-digit account ID",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {"accountIds": []}},
            "list of 1 to 50 account IDs",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {"accountIds": [ACCOUNT + "\n"]}},
            "not a 12-digit account ID",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {"features": ["GPU_MINING"]}},
            "'GPU_MINING' is not one of",
        ),
        (
            {
                "usageStatisticsType": "SUM_BY_ACCOUNT",
                "usageCriteria": {"features": "EC2_RUNTIME_MONITORING"},
            },
            "features must be a list",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {"dataSources": ["S3"]}},
            "dataSources: 'S3' is not one of",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {"resources": [""]}},
            "resources: each entry",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {"colour": 1}},
            "unknown key(s) 'colour'",
        ),
        ({"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {}, "unit": "EUR"}, "unit must be USD"),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {}, "maxResults": 0},
            "maxResults must be an integer from 1 to 50",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {}, "nextToken": "bm9wZQ=="},
            "nextToken is not valid",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {}, "nextToken": "%%%"},
            "nextToken is not valid",
        ),
        (
            {"usageStatisticsType": "SUM_BY_ACCOUNT", "usageCriteria": {}, "nextToken": 5},
            "nextToken must be a token",
        ),
    ],
)
def test_bad_usage_requests_are_bad_requests(scenario: UsageEnv, body: dict[str, Any], message: str) -> None:
    resp = _signed(scenario, f"/detector/{scenario.detector}/usage/statistics", body)
    assert resp.status_code == 400, resp.text
    error = resp.json()
    assert error["__type"] == "BadRequestException" and message in error["message"], error


def test_bad_tokens_and_trial_requests_through_boto3(scenario: UsageEnv) -> None:
    gd = scenario.client()
    page = _stats(gd, scenario, "SUM_BY_RESOURCE", MaxResults=1)
    with pytest.raises(ClientError) as err:  # a token of another statistic type
        _stats(gd, scenario, "TOP_RESOURCES", NextToken=page["NextToken"])
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    assert "not valid for this usageStatisticsType" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        gd.get_remaining_free_trial_days(DetectorId=scenario.detector, AccountIds=["not-an-account"])
    assert "not a 12-digit account ID" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        gd.get_usage_statistics(DetectorId="0" * 32, UsageStatisticType="SUM_BY_ACCOUNT", UsageCriteria={})
    assert "not owned by the current account" in err.value.response["Error"]["Message"]


def _signed(env: UsageEnv, path: str, body: dict[str, Any]) -> httpx.Response:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = json.dumps(body).encode()
    request = AWSRequest(
        method="POST", url=env.url + path, data=data, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(env.key_id, env.secret), "guardduty", REGION).add_auth(request)
    return httpx.post(env.url + path, content=data, headers=dict(request.headers.items()))


def _aws(env: UsageEnv, *args: str) -> Any:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home()),
                   "AWS_ACCESS_KEY_ID": env.key_id, "AWS_SECRET_ACCESS_KEY": env.secret,
                   "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null",
                   "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_MAX_ATTEMPTS": "1"}  # fmt: skip
    import subprocess

    command = [str(AWS), "guardduty", *args, "--endpoint-url", env.url, "--output", "json"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_aws_cli_get_usage_statistics_and_trial_days(scenario: UsageEnv) -> None:
    out = _aws(scenario, "get-usage-statistics", "--detector-id", scenario.detector,
               "--usage-statistic-type", "SUM_BY_FEATURES",
               "--usage-criteria", json.dumps({"Features": [EC2, EKS]}), "--unit", "USD")  # fmt: skip
    got = {r["Feature"]: r["Total"]["Amount"] for r in out["UsageStatistics"]["SumByFeature"]}
    assert set(got) == {EC2, EKS}
    assert _close(got[EC2], _usd(60 * NCPU)) and _close(got[EKS], _usd(60 * NCPU))
    trial = _aws(scenario, "get-remaining-free-trial-days", "--detector-id", scenario.detector,
                 "--account-ids", ACCOUNT)  # fmt: skip
    assert {f["Name"]: f["FreeTrialDaysRemaining"] for f in trial["Accounts"][0]["Features"]}[EKS] == 22


def test_real_server_meters_within_seconds_and_exports_metrics(tmp_path: Path) -> None:
    """``build_server`` wiring with the real clock: heartbeats a fraction of a second apart are in
    GetUsageStatistics and the ``/metrics`` counter at once, and the two agree."""
    server = build_server(ServerConfig(data_dir=tmp_path, region=REGION))
    cred = server.credentials
    assert cred is not None
    with serve_in_thread(server.app) as url:
        agent = Agent(url, cred.agent_token, tmp_path / "agent", instance="i-0real")
        started = time.time()
        try:
            for _ in range(3):
                agent.beat()
                time.sleep(0.3)
            agent.beat()
        finally:
            agent.close()
        elapsed = time.time() - started
        metrics = httpx.get(url + "/metrics").text
        found = re.search(r'^rtguard_monitored_vcpu_seconds_total\{feature="EC2_RUNTIME_MONITORING"\} ([0-9.]+)$',
                          metrics, re.M)  # fmt: skip
        assert found, metrics
        counted = float(found.group(1))
        assert 0.9 * NCPU * 0.9 <= counted <= elapsed * NCPU
        assert 'rtguard_usage_heartbeats_total{outcome="credited"} 3' in metrics
        gd = boto3.client("guardduty", endpoint_url=url, region_name=REGION, aws_access_key_id=cred.aws_access_key_id,
                          aws_secret_access_key=cred.aws_secret_access_key, config=NO_RETRY)  # fmt: skip
        got = gd.get_usage_statistics(DetectorId=cred.detector_id, UsageStatisticType="SUM_BY_RESOURCE",
                                      UsageCriteria={}, Unit="VCPU_HOURS")["UsageStatistics"]["SumByResource"]  # fmt: skip
        assert [r["Resource"] for r in got] == ["i-0real"]
        assert abs(Decimal(got[0]["Total"]["Amount"]) - Decimal(counted) / 3600) <= Decimal("0.00000002")
    server.store.close()
