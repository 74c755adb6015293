"""ArchiveFindings, UnarchiveFindings, UpdateFindingsFeedback, CreateSampleFindings and
GetFindingsStatistics through boto3, including bad input answered in GuardDuty's error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rtguard.model.findings import FINDING_TYPES, RUNTIME_CONTEXT_KEYS

from .conftest import LifecycleEnv


def _all_findings(gd: Any, detector: str) -> list[dict[str, Any]]:
    ids: list[str] = []
    for page in gd.get_paginator("list_findings").paginate(DetectorId=detector):
        ids.extend(page["FindingIds"])
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), 50):
        found.extend(gd.get_findings(DetectorId=detector, FindingIds=ids[start : start + 50])["Findings"])
    return found


def _error(caught: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    error: dict[str, Any] = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error


def test_samples_cover_every_runtime_type(env: LifecycleEnv, gd: Any) -> None:
    gd.create_sample_findings(DetectorId=env.detector)
    findings = _all_findings(gd, env.detector)
    assert sorted(f["Type"] for f in findings) == sorted(t.name for t in FINDING_TYPES)
    assert len(findings) == 45
    for f in findings:
        assert f["Title"].startswith("[SAMPLE] ")
        assert json.loads(f["Service"]["AdditionalInfo"]["Value"])["sample"] is True
        assert f["Service"]["FeatureName"] == "RuntimeMonitoring"
        assert f["Service"]["Archived"] is False
        context = env.store.get_findings(env.detector, [f["Id"]])[0]["service"]["runtimeDetails"]["context"]
        assert set(context) <= RUNTIME_CONTEXT_KEYS
    by_type = {f["Type"]: f for f in findings}
    mount = by_type["PrivilegeEscalation:Runtime/ContainerMountsHostDirectory"]["Service"]["RuntimeDetails"]
    assert mount["Context"]["MountTarget"] == "/mnt/host"
    dns = by_type["Backdoor:Runtime/C&CActivity.B!DNS"]["Service"]["Action"]
    assert dns["ActionType"] == "DNS_REQUEST"
    net = by_type["Backdoor:Runtime/C&CActivity.B"]["Service"]["Action"]
    assert net["NetworkConnectionAction"]["RemoteIpDetails"]["IpAddressV4"].startswith("198.51.100.")
    kernel = by_type["DefenseEvasion:Runtime/KernelModuleLoaded"]
    assert kernel["Resource"]["ResourceType"] == "Instance"
    assert kernel["Service"]["RuntimeDetails"]["Context"]["ModuleName"]
    release = by_type["PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified"]
    assert release["Service"]["RuntimeDetails"]["Context"]["ReleaseAgentPath"].endswith("release_agent")
    assert release["Severity"] == 8


def test_samples_of_named_types_aggregate_on_repeat(env: LifecycleEnv, gd: Any) -> None:
    wanted = ["Execution:Runtime/ReverseShell", "Impact:Runtime/CryptoMinerExecuted"]
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=wanted)
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=wanted[:1])
    findings = {f["Type"]: f for f in _all_findings(gd, env.detector)}
    assert set(findings) == set(wanted)
    assert findings["Execution:Runtime/ReverseShell"]["Service"]["Count"] == 2
    assert findings["Impact:Runtime/CryptoMinerExecuted"]["Service"]["Count"] == 1


def test_archive_unarchive_and_feedback(env: LifecycleEnv, gd: Any) -> None:
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=["Execution:Runtime/ReverseShell"])
    ids = gd.list_findings(DetectorId=env.detector)["FindingIds"]
    gd.archive_findings(DetectorId=env.detector, FindingIds=ids)
    archived = gd.list_findings(
        DetectorId=env.detector, FindingCriteria={"Criterion": {"service.archived": {"Eq": ["true"]}}}
    )["FindingIds"]
    assert archived == ids
    assert gd.get_findings(DetectorId=env.detector, FindingIds=ids)["Findings"][0]["Service"]["Archived"]
    gd.unarchive_findings(DetectorId=env.detector, FindingIds=ids)
    assert not gd.get_findings(DetectorId=env.detector, FindingIds=ids)["Findings"][0]["Service"]["Archived"]
    gd.update_findings_feedback(DetectorId=env.detector, FindingIds=ids, Feedback="NOT_USEFUL", Comments="fp")
    finding = gd.get_findings(DetectorId=env.detector, FindingIds=ids)["Findings"][0]
    assert finding["Service"]["UserFeedback"] == "NOT_USEFUL"
    gd.archive_findings(DetectorId=env.detector, FindingIds=["0" * 32])  # unknown ids are ignored


@pytest.mark.parametrize(
    ("operation", "kwargs", "message"),
    [
        ("archive_findings", {"FindingIds": [f"{i:032x}" for i in range(51)]}, "at most 50"),
        ("unarchive_findings", {"FindingIds": [f"{i:032x}" for i in range(60)]}, "at most 50"),
        ("update_findings_feedback", {"FindingIds": ["a"], "Feedback": "MEH"}, "feedback must be one of"),
        ("update_findings_feedback", {"FindingIds": [], "Feedback": "USEFUL"}, "must not be empty"),
        ("create_sample_findings", {"FindingTypes": ["Recon:EC2/PortProbeUnprotectedPort"]}, "not a runtime"),
        ("create_sample_findings", {"FindingTypes": ["Execution:Runtime/ReverseShell"] * 51}, "at most 50"),
    ],
)
def test_bad_input_is_a_bad_request(
    env: LifecycleEnv, gd: Any, operation: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as caught:
        getattr(gd, operation)(DetectorId=env.detector, **kwargs)
    error = _error(caught)
    assert error["Code"] == "BadRequestException"
    assert message in error["Message"]


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("archive_findings", {"FindingIds": ["a"]}),
        ("unarchive_findings", {"FindingIds": ["a"]}),
        ("update_findings_feedback", {"FindingIds": ["a"], "Feedback": "USEFUL"}),
        ("create_sample_findings", {}),
    ],
)
def test_unknown_detector_is_rejected(gd: Any, operation: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as caught:
        getattr(gd, operation)(DetectorId="f" * 32, **kwargs)
    error = _error(caught)
    assert error["Code"] == "BadRequestException"
    assert "not owned by the current account" in error["Message"]


def test_statistics_by_severity_type_and_resource(env: LifecycleEnv, gd: Any) -> None:
    gd.create_sample_findings(DetectorId=env.detector)
    by_type = gd.get_findings_statistics(DetectorId=env.detector, GroupBy="FINDING_TYPE", MaxResults=100)
    rows = by_type["FindingStatistics"]["GroupedByFindingType"]
    assert len(rows) == 45 and all(r["TotalFindings"] == 1 for r in rows)
    by_severity = gd.get_findings_statistics(DetectorId=env.detector, GroupBy="SEVERITY")
    totals = {
        r["Severity"]: r["TotalFindings"] for r in by_severity["FindingStatistics"]["GroupedBySeverity"]
    }
    expected: dict[float, int] = {}
    for t in FINDING_TYPES:
        expected[t.severity] = expected.get(t.severity, 0) + 1
    assert totals == expected
    by_resource = gd.get_findings_statistics(DetectorId=env.detector, GroupBy="RESOURCE")
    resources = {
        r["ResourceType"]: r["TotalFindings"] for r in by_resource["FindingStatistics"]["GroupedByResource"]
    }
    assert resources == {"ECSCluster": 44, "Instance": 1}
    legacy = gd.get_findings_statistics(DetectorId=env.detector, FindingStatisticTypes=["COUNT_BY_SEVERITY"])
    assert sum(legacy["FindingStatistics"]["CountBySeverity"].values()) == 45
