"""Coverage without processes: enablement and tags, the heartbeat answer, HEALTHY/UNHEALTHY with
a fake clock, Healthy/Unhealthy events, filters, sorting and paging through the API handlers."""

from __future__ import annotations

from typing import Any

import pytest

from rtguard.api.errors import BadRequestError
from rtguard.api.operations import IMPLEMENTED, Call
from rtguard.coverage.enablement import ManagementType, RuntimeSettings, decide_ec2, decide_ecs, tag_value
from rtguard.coverage.monitor import CoverageConfig, CoverageMonitor
from rtguard.store.sqlite import SqlStore

ACCOUNT = "123456789012"
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"


def _features(runtime: str, fargate: str, ec2: str) -> list[dict[str, Any]]:
    return [{"name": "RUNTIME_MONITORING", "status": runtime, "additionalConfiguration": [
        {"name": "ECS_FARGATE_AGENT_MANAGEMENT", "status": fargate},
        {"name": "EC2_AGENT_MANAGEMENT", "status": ec2}]}]  # fmt: skip


def test_managed_tag_table() -> None:
    on, off = RuntimeSettings(runtime=True, fargate_auto=True), RuntimeSettings(runtime=True)
    assert decide_ecs(on, None).monitored and decide_ecs(on, None).management is ManagementType.AUTO_MANAGED
    assert not decide_ecs(on, False).monitored and decide_ecs(on, False).excluded_by_tag
    assert decide_ecs(off, True).monitored
    assert not decide_ecs(off, None).monitored and not decide_ecs(off, False).monitored
    assert not decide_ecs(RuntimeSettings(fargate_auto=True), True).monitored
    assert decide_ec2(off, None).management is ManagementType.MANUAL
    assert (
        decide_ec2(RuntimeSettings(runtime=True, ec2_auto=True), None).management
        is ManagementType.AUTO_MANAGED
    )
    assert decide_ec2(off, False).issue.startswith("Agent Not Provisioned : Instances with exclusion tags")
    assert tag_value([{"key": "GuardDutyManaged", "value": "TRUE"}]) is True
    assert tag_value({"GuardDutyManaged": "maybe"}) is None
    settings = RuntimeSettings.from_features(_features("ENABLED", "DISABLED", "ENABLED"))
    assert settings == RuntimeSettings(runtime=True, fargate_auto=False, ec2_auto=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env() -> tuple[SqlStore, CoverageMonitor, Clock, str, list[dict[str, Any]]]:
    store = SqlStore("sqlite://")
    store.create_account(ACCOUNT, "us-east-1")
    det = store.create_detector(ACCOUNT)
    clock = Clock()
    events: list[dict[str, Any]] = []
    monitor = CoverageMonitor(store, CoverageConfig(agent_timeout=60), listeners=[events.append], clock=clock)
    return store, monitor, clock, det, events


def _beat(agent: str, **resource: str) -> dict[str, Any]:
    return {"agent_id": agent, "agent_version": "0.1.0", "instance_id": resource.pop("instance_id", ""),
            "resource": resource}  # fmt: skip


def _call(store: SqlStore, det: str, body: dict[str, Any]) -> Call:
    return Call(
        store=store, region="us-east-1", account_id=ACCOUNT, path={"DetectorId": det}, query={}, body=body
    )


def test_sidecar_and_host_agents_healthy_then_not_reporting(env: Any) -> None:
    store, monitor, clock, det, events = env
    task = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef"
    assert monitor.on_heartbeat(ACCOUNT, _beat("a1", mode="sidecar", cluster_arn=CLUSTER, task_arn=task,
                                               family="web", revision="3"))["enabled"] is True  # fmt: skip
    monitor.on_heartbeat(ACCOUNT, _beat("h1", mode="host", cluster_arn=CLUSTER, instance_id="i-0aaa"))
    monitor.tick()
    listed = IMPLEMENTED["ListCoverage"](_call(store, det, {}))["resources"]
    assert [(r["resourceId"], r["coverageStatus"]) for r in listed] == [
        ("i-0aaa", "HEALTHY"),
        ("prod", "HEALTHY"),
    ]
    assert listed[1]["resourceDetails"]["ecsClusterDetails"]["containerInstanceDetails"] == {
        "coveredContainerInstances": 1, "compatibleContainerInstances": 1}  # fmt: skip
    assert {e["detail-type"] for e in events} == {"GuardDuty Runtime Protection Healthy"}
    first_updated = listed[0]["updatedAt"]

    clock.now += 61
    monitor.on_heartbeat(ACCOUNT, _beat("h1", mode="host", cluster_arn=CLUSTER, instance_id="i-0aaa"))
    monitor.tick()
    by_id = {r["resourceId"]: r for r in IMPLEMENTED["ListCoverage"](_call(store, det, {}))["resources"]}
    assert by_id["i-0aaa"]["coverageStatus"] == "HEALTHY" and by_id["i-0aaa"]["updatedAt"] == first_updated
    prod = by_id["prod"]
    assert prod["coverageStatus"] == "UNHEALTHY"
    assert prod["issue"] == ("Agent not reporting : Agent not reporting for tasks in TaskDefinition - 'web:3'. "
                             "Impacted task ID(s): '0123456789abcdef'")  # fmt: skip
    unhealthy = [e for e in events if e["detail-type"] == "GuardDuty Runtime Protection Unhealthy"]
    assert len(unhealthy) == 1
    assert unhealthy[0]["detail"]["previousStatus"] == "HEALTHY"
    assert unhealthy[0]["detail"]["currentStatus"] == "UNHEALTHY"
    assert unhealthy[0]["detail"]["resourceDetails"]["ecsClusterDetails"]["clusterName"] == "prod"
    monitor.tick()
    assert len(events) == 3  # no repeated events without a change

    stats = IMPLEMENTED["GetCoverageStatistics"](
        _call(store, det, {"statisticsType": ["COUNT_BY_COVERAGE_STATUS"]}))["coverageStatistics"]  # fmt: skip
    assert stats == {"countByCoverageStatus": {"HEALTHY": 1, "UNHEALTHY": 1}}


def test_disabling_tells_agents_and_coverage_says_why(env: Any) -> None:
    store, monitor, _clock, det, _events = env
    beat = _beat(
        "a1", mode="sidecar", cluster_arn=CLUSTER, task_arn=CLUSTER.replace("cluster", "task") + "/t1"
    )
    host = _beat("h1", mode="host", instance_id="i-0bbb")
    store.set_runtime_features(ACCOUNT, det, _features("DISABLED", "ENABLED", "ENABLED"))
    answer = monitor.on_heartbeat(ACCOUNT, beat)
    assert answer["enabled"] is False and "Runtime Monitoring is disabled" in answer["reason"]
    assert monitor.on_heartbeat(ACCOUNT, host)["enabled"] is False
    monitor.tick()
    by_id = {r["resourceId"]: r for r in IMPLEMENTED["ListCoverage"](_call(store, det, {}))["resources"]}
    assert by_id["prod"]["coverageStatus"] == "UNHEALTHY" and "disabled" in by_id["prod"]["issue"]
    assert by_id["i-0bbb"]["coverageStatus"] == "UNHEALTHY"

    # automated config on, but the cluster carries the exclusion tag
    store.set_runtime_features(ACCOUNT, det, _features("ENABLED", "ENABLED", "ENABLED"))
    store.replace_inventory(ACCOUNT, "cluster", {CLUSTER: {"clusterArn": CLUSTER,
                            "tags": {"GuardDutyManaged": "false"}}}, 0)  # fmt: skip
    assert monitor.on_heartbeat(ACCOUNT, beat)["enabled"] is False
    assert monitor.on_heartbeat(ACCOUNT, host)["enabled"] is True
    # automated config off: the inclusion tag alone turns it on
    store.set_runtime_features(ACCOUNT, det, _features("ENABLED", "DISABLED", "DISABLED"))
    store.replace_inventory(ACCOUNT, "cluster", {CLUSTER: {"clusterArn": CLUSTER,
                            "tags": {"GuardDutyManaged": "true"}}}, 0)  # fmt: skip
    assert monitor.on_heartbeat(ACCOUNT, beat)["enabled"] is True
    monitor.tick()
    prod = {r["resourceId"]: r for r in IMPLEMENTED["ListCoverage"](_call(store, det, {}))["resources"]}[
        "prod"
    ]
    assert prod["coverageStatus"] == "HEALTHY"
    assert prod["resourceDetails"]["ecsClusterDetails"]["fargateDetails"]["managementType"] == "AUTO_MANAGED"


def test_filters_sorting_paging_and_errors(env: Any) -> None:
    store, monitor, clock, det, _events = env
    for n in range(7):
        monitor.on_heartbeat(ACCOUNT, _beat(f"h{n}", mode="host", instance_id=f"i-{n:04d}"))
        clock.now += 1
    clock.now -= 3
    monitor.tick()  # i-0004.. reported 1-3 s "in the future": still fresh; all HEALTHY
    list_coverage = IMPLEMENTED["ListCoverage"]
    seen: list[str] = []
    token = None
    while True:
        body: dict[str, Any] = {
            "maxResults": 3,
            "sortCriteria": {"attributeName": "INSTANCE_ID", "orderBy": "DESC"},
        }
        if token:
            body["nextToken"] = token
        page = list_coverage(_call(store, det, body))
        seen += [r["resourceId"] for r in page["resources"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [f"i-{n:04d}" for n in reversed(range(7))]
    crit = {"filterCriterion": [{"criterionKey": "INSTANCE_ID", "filterCondition": {"notEquals": ["i-0000", "i-0001"]}},
                                {"criterionKey": "RESOURCE_TYPE", "filterCondition": {"equals": ["EC2"]}}]}  # fmt: skip
    assert len(list_coverage(_call(store, det, {"filterCriteria": crit}))["resources"]) == 5
    for bad in ({"filterCriteria": {"filterCriterion": [{"criterionKey": "NOPE", "filterCondition": {"equals": ["x"]}}]}},
                {"sortCriteria": {"attributeName": "SEVERITY"}}, {"maxResults": 51}, {"nextToken": "garbage"}):  # fmt: skip
        with pytest.raises(BadRequestError):
            list_coverage(_call(store, det, bad))
    with pytest.raises(BadRequestError, match="not owned"):
        list_coverage(_call(store, "0" * 32, {}))
