"""Filters through boto3: CRUD, every GuardDuty condition operator (wildcards included), bad
criteria in GuardDuty's error shape, and suppression: an ARCHIVE filter archives matching findings
on arrival and they are never published."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rtguard.store.query import Condition, Op, matches
from rtguard.testing.receiver import Receiver

from .conftest import LifecycleEnv

EVERY_OPERATOR: dict[str, Any] = {
    "type": {"Eq": ["Execution:Runtime/ReverseShell"], "Neq": ["x"], "Equals": ["Execution:Runtime/ReverseShell"],
             "NotEquals": ["y"]},
    "severity": {"Gt": 1, "Gte": 2, "Lt": 10, "Lte": 9, "GreaterThan": 1, "GreaterThanOrEqual": 2,
                 "LessThan": 10, "LessThanOrEqual": 9},
    "service.runtimeDetails.process.executablePath": {"Matches": ["/usr/*/gen?rated"], "NotMatches": ["/tmp/*"]},
}  # fmt: skip


def test_filter_crud_and_every_operator(env: LifecycleEnv, gd: Any) -> None:
    created = gd.create_filter(
        DetectorId=env.detector, Name="all-ops", Action="NOOP", Rank=3, FindingCriteria={"Criterion": EVERY_OPERATOR},
        Description="every operator", Tags={"team": "sec"},
    )  # fmt: skip
    assert created["Name"] == "all-ops"
    got = gd.get_filter(DetectorId=env.detector, FilterName="all-ops")
    assert got["Action"] == "NOOP" and got["Rank"] == 3 and got["Description"] == "every operator"
    assert got["FindingCriteria"] == {"Criterion": EVERY_OPERATOR}
    assert got["Tags"] == {"team": "sec"}
    gd.update_filter(DetectorId=env.detector, FilterName="all-ops", Action="ARCHIVE", Rank=1)
    got = gd.get_filter(DetectorId=env.detector, FilterName="all-ops")
    assert (got["Action"], got["Rank"]) == ("ARCHIVE", 1)
    for i in range(5):
        gd.create_filter(
            DetectorId=env.detector, Name=f"f-{i}", FindingCriteria={"Criterion": {"severity": {"Gte": i}}}
        )
    names: list[str] = []
    for page in gd.get_paginator("list_filters").paginate(
        DetectorId=env.detector, PaginationConfig={"PageSize": 2}
    ):
        names.extend(page["FilterNames"])
    assert names[0] == "all-ops" and sorted(names) == sorted(["all-ops", *(f"f-{i}" for i in range(5))])
    gd.delete_filter(DetectorId=env.detector, FilterName="all-ops")
    with pytest.raises(ClientError):
        gd.get_filter(DetectorId=env.detector, FilterName="all-ops")


def test_wildcard_conditions_match_like_guardduty() -> None:
    doc = {"resource": {"containerDetails": {"image": "public.ecr.aws/nginx/nginx:1.25"}}, "severity": 8.0}
    field = "resource.containerDetails.image"
    assert matches(doc, [Condition(field=field, op=Op.MATCHES, values=("*nginx:1.2?",))])
    assert not matches(doc, [Condition(field=field, op=Op.MATCHES, values=("nginx*",))])
    assert matches(doc, [Condition(field=field, op=Op.NOT_MATCHES, values=("*redis*",))])
    assert matches(doc, [Condition(field="severity", op=Op.MATCHES, values=("8*",))])
    assert not matches(
        doc, [Condition(field=field, op=Op.MATCHES, values=("public.ecr.aws/nginx/nginx:1.2",))]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"Name": "ok-name", "FindingCriteria": {"Criterion": {}}}, "at least one criterion"),
        (
            {"Name": "ok-name", "FindingCriteria": {"Criterion": {"type": {"Matches": ["a"] * 6}}}},
            "1 to 5 patterns",
        ),
        (
            {"Name": "ok-name", "FindingCriteria": {"Criterion": {"type": {"Eq": ["a"] * 51}}}},
            "1 to 50 values",
        ),
        (
            {"Name": "ok-name", "FindingCriteria": {"Criterion": {"bad field!": {"Eq": ["a"]}}}},
            "invalid criterion",
        ),
        ({"Name": "x", "FindingCriteria": {"Criterion": {"type": {"Eq": ["a"]}}}}, "3 to 64 characters"),
        (
            {"Name": "has space", "FindingCriteria": {"Criterion": {"type": {"Eq": ["a"]}}}},
            "3 to 64 characters",
        ),
        ({"Name": "ok-name", "Rank": 101, "FindingCriteria": {"Criterion": {"type": {"Eq": ["a"]}}}}, "rank"),
        (
            {
                "Name": "ok-name",
                "Action": "DELETE",
                "FindingCriteria": {"Criterion": {"type": {"Eq": ["a"]}}},
            },
            "action",
        ),
    ],
)
def test_bad_filters_are_rejected(env: LifecycleEnv, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError) as caught:
        env.client(validate=False).create_filter(DetectorId=env.detector, **kwargs)
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    assert message in caught.value.response["Error"]["Message"]


def test_unknown_operator_is_a_bad_request(env: LifecycleEnv) -> None:
    body = {"name": "ok-name", "findingCriteria": {"criterion": {"type": {"like": ["x"]}}}}
    response = env.signed("POST", f"/detector/{env.detector}/filter", body)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert response.json() == {
        "message": "criterion 'type': unknown condition 'like'",
        "__type": "BadRequestException",
    }


def test_matches_is_rejected_in_list_findings(env: LifecycleEnv, gd: Any) -> None:
    with pytest.raises(ClientError) as caught:
        gd.list_findings(DetectorId=env.detector, FindingCriteria={"Criterion": {"type": {"Matches": ["*"]}}})
    assert "only available for filters" in caught.value.response["Error"]["Message"]


def test_duplicate_names_unknown_filters_and_detectors(env: LifecycleEnv, gd: Any) -> None:
    criteria = {"Criterion": {"severity": {"Gte": 7}}}
    gd.create_filter(DetectorId=env.detector, Name="dup", FindingCriteria=criteria)
    with pytest.raises(ClientError, match="already exists"):
        gd.create_filter(DetectorId=env.detector, Name="dup", FindingCriteria=criteria)
    with pytest.raises(ClientError, match="no such resource"):
        gd.delete_filter(DetectorId=env.detector, FilterName="nope")
    with pytest.raises(ClientError, match="not owned"):
        gd.list_filters(DetectorId="a" * 32)


def test_archive_filter_suppresses_and_suppressed_findings_are_never_published(
    env: LifecycleEnv, gd: Any, receiver: Receiver
) -> None:
    gd.create_publishing_destination(
        DetectorId=env.detector,
        DestinationType="WEBHOOK",
        DestinationProperties={"DestinationArn": receiver.url},
    )
    gd.create_filter(
        DetectorId=env.detector, Name="miners-ok", Action="ARCHIVE",
        FindingCriteria={"Criterion": {"type": {"Matches": ["Impact:Runtime/*Miner*"]}}},
    )  # fmt: skip
    gd.create_filter(
        DetectorId=env.detector, Name="watch-shells", Action="NOOP",
        FindingCriteria={"Criterion": {"type": {"Eq": ["Execution:Runtime/ReverseShell"]}}},
    )  # fmt: skip
    types = ["Impact:Runtime/CryptoMinerExecuted", "Execution:Runtime/ReverseShell"]
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=types)
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=types)  # recurrences too
    findings = {f["type"]: f for f in env.store.get_findings(env.detector, _ids(gd, env.detector))}
    assert findings["Impact:Runtime/CryptoMinerExecuted"]["service"]["archived"] is True
    assert findings["Execution:Runtime/ReverseShell"]["service"]["archived"] is False
    events = receiver.drain(wait=5)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # anything else that would arrive
        events += receiver.drain(wait=0.2)
    published = [e["detail"]["type"] for e in events]
    assert published == ["Execution:Runtime/ReverseShell"]
    assert env.lifecycle.suppressed["miners-ok"] == 2
    assert env.lifecycle.counters["suppressed"] == 2
    assert env.lifecycle.matched["watch-shells"] == 2


def _ids(gd: Any, detector: str) -> list[str]:
    ids: list[str] = gd.list_findings(DetectorId=detector)["FindingIds"]
    return ids
