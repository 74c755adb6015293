"""ListFindings, GetFindings and GetFindingsStatistics through boto3's real GuardDuty client."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rtguard.store.query import Condition, Op, matches

from .conftest import SEEDED, ApiEnv

Doc = dict[str, Any]


def _all_ids(gd: Any, detector: str, **kwargs: Any) -> list[str]:
    paginator = gd.get_paginator("list_findings")
    ids: list[str] = []
    for page in paginator.paginate(DetectorId=detector, PaginationConfig={"PageSize": 7}, **kwargs):
        ids.extend(page["FindingIds"])
    return ids


def _expected(env: ApiEnv, predicate: Callable[[Doc], bool]) -> set[str]:
    return {i for i, d in env.findings.items() if predicate(d)}


def _proc(doc: Doc) -> Doc:
    process: Doc = doc["service"]["runtimeDetails"]["process"]
    return process


CRITERIA: list[tuple[str, dict[str, Any], Callable[[Doc], bool]]] = [
    (
        "type",
        {"type": {"Eq": ["Impact:Runtime/CryptoMinerExecuted"]}},
        lambda d: d["type"] == "Impact:Runtime/CryptoMinerExecuted",
    ),
    (
        "type-equals-many",
        {"type": {"Equals": ["Execution:Runtime/ReverseShell", "Backdoor:Runtime/C&CActivity.B!DNS"]}},
        lambda d: d["type"] in ("Execution:Runtime/ReverseShell", "Backdoor:Runtime/C&CActivity.B!DNS"),
    ),
    (
        "type-neq",
        {"type": {"NotEquals": ["Impact:Runtime/CryptoMinerExecuted"]}},
        lambda d: d["type"] != "Impact:Runtime/CryptoMinerExecuted",
    ),
    ("severity-high", {"severity": {"GreaterThanOrEqual": 7}}, lambda d: d["severity"] >= 7),
    ("severity-medium-band", {"severity": {"Gte": 4, "Lt": 7}}, lambda d: 4 <= d["severity"] < 7),
    (
        "resource-type",
        {"resource.resourceType": {"Eq": ["Instance"]}},
        lambda d: d["resource"]["resourceType"] == "Instance",
    ),
    (
        "cluster",
        {"resource.ecsClusterDetails.name": {"Eq": ["staging"]}},
        lambda d: d["resource"].get("ecsClusterDetails", {}).get("name") == "staging",
    ),
    (
        "task-definition",
        {
            "resource.ecsClusterDetails.taskDetails.definitionArn": {
                "Eq": ["arn:aws:ecs:us-west-2:123456789012:task-definition/web:2"]
            }
        },
        lambda d: (
            d["resource"]
            .get("ecsClusterDetails", {})
            .get("taskDetails", {})
            .get("definitionArn", "")
            .endswith("web:2")
        ),
    ),
    (
        "image",
        {"resource.containerDetails.image": {"Eq": ["python:3.12-slim"]}},
        lambda d: d["resource"].get("containerDetails", {}).get("image") == "python:3.12-slim",
    ),
    (
        "instance",
        {"resource.instanceDetails.instanceId": {"Eq": ["i-0abc0010"]}},
        lambda d: d["resource"].get("instanceDetails", {}).get("instanceId") == "i-0abc0010",
    ),
    (
        "process-name",
        {"service.runtimeDetails.process.name": {"Eq": ["nmap"]}},
        lambda d: _proc(d)["name"] == "nmap",
    ),
    (
        "process-path",
        {"service.runtimeDetails.process.executablePath": {"Eq": ["/tmp/xmrig"]}},
        lambda d: _proc(d)["executablePath"] == "/tmp/xmrig",
    ),
    (
        "process-sha",
        {
            "service.runtimeDetails.process.executableSha256": {
                "Neq": [hashlib.sha256(b"/usr/bin/bash").hexdigest()]
            }
        },
        lambda d: _proc(d)["name"] != "bash",
    ),
    (
        "lineage-any-element",
        {"service.runtimeDetails.process.lineage.name": {"Eq": ["node"]}},
        lambda d: True,
    ),
    ("archived", {"service.archived": {"Eq": ["true"]}}, lambda d: d["service"]["archived"]),
    (
        "not-archived-high",
        {"service.archived": {"Eq": ["false"]}, "severity": {"Gt": 5}},
        lambda d: not d["service"]["archived"] and d["severity"] > 5,
    ),
    ("feature", {"service.featureName": {"Eq": ["RuntimeMonitoring"]}}, lambda d: True),
    (
        "updated-after",
        {"updatedAt": {"GreaterThan": 1717574400000}},  # 2024-06-05T08:00:00Z
        lambda d: d["updatedAt"] > "2024-06-05T08:00:00.000Z",
    ),
    (
        "created-before",
        {"createdAt": {"LessThanOrEqual": 1717401600000}},  # 2024-06-03T08:00:00Z
        lambda d: d["createdAt"] <= "2024-06-03T08:00:00.000Z",
    ),
    (
        "account-region",
        {"accountId": {"Eq": ["123456789012"]}, "region": {"Eq": ["us-west-2"]}},
        lambda d: True,
    ),
    ("no-match", {"type": {"Eq": ["Trojan:Runtime/DropPoint"]}}, lambda d: False),
]


@pytest.mark.parametrize(
    ("criterion", "predicate"), [(c, p) for _, c, p in CRITERIA], ids=[n for n, _, _ in CRITERIA]
)
def test_list_findings_filters(
    api_env: ApiEnv, gd: Any, criterion: dict[str, Any], predicate: Callable[[Doc], bool]
) -> None:
    ids = _all_ids(gd, api_env.detector, FindingCriteria={"Criterion": criterion})
    assert len(ids) == len(set(ids))
    assert set(ids) == _expected(api_env, predicate)


def test_seeded_data_exercises_the_criteria(api_env: ApiEnv) -> None:
    # Guard against vacuous filters: each interesting predicate selects some but not all findings.
    for name, _, predicate in CRITERIA:
        if name in ("lineage-any-element", "feature", "account-region", "no-match"):
            continue
        selected = _expected(api_env, predicate)
        assert 0 < len(selected) < SEEDED, name


def test_pagination_has_no_duplicates_or_gaps(api_env: ApiEnv, gd: Any) -> None:
    sort = {"AttributeName": "severity", "OrderBy": "DESC"}
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"DetectorId": api_env.detector, "MaxResults": 5, "SortCriteria": sort}
        if token:
            kwargs["NextToken"] = token
        response = gd.list_findings(**kwargs)
        pages.append(response["FindingIds"])
        token = response.get("NextToken")
        if not token:
            break
    flat = [i for page in pages for i in page]
    assert [len(p) for p in pages] == [5] * 7 + [2]
    assert len(flat) == len(set(flat)) == SEEDED
    assert set(flat) == set(api_env.findings)
    severities = [api_env.findings[i]["severity"] for i in flat]
    assert severities == sorted(severities, reverse=True)


@pytest.mark.parametrize(
    ("attribute", "order"),
    [
        ("updatedAt", "ASC"),
        ("updatedAt", "DESC"),
        ("service.count", "DESC"),
        ("type", "ASC"),
        ("service.runtimeDetails.process.name", "ASC"),
    ],
)
def test_list_findings_sorting(api_env: ApiEnv, gd: Any, attribute: str, order: str) -> None:
    ids = _all_ids(gd, api_env.detector, SortCriteria={"AttributeName": attribute, "OrderBy": order})
    docs = [api_env.findings[i] for i in ids]

    def key(doc: Doc) -> Any:
        value: Any = doc
        for part in attribute.split("."):
            value = value[part]
        return value

    values = [key(d) for d in docs]
    assert values == sorted(values, reverse=order == "DESC")
    assert len(ids) == SEEDED


def test_get_findings_returns_stored_documents(api_env: ApiEnv, gd: Any) -> None:
    wanted = sorted(api_env.findings)[:12]
    response = gd.get_findings(
        DetectorId=api_env.detector,
        FindingIds=wanted,
        SortCriteria={"AttributeName": "updatedAt", "OrderBy": "ASC"},
    )
    findings = response["Findings"]
    assert {f["Id"] for f in findings} == set(wanted)
    stamps = [f["UpdatedAt"] for f in findings]
    assert stamps == sorted(stamps)
    sample = next(f for f in findings if f["Resource"]["ResourceType"] == "ECSCluster")
    stored = api_env.findings[sample["Id"]]
    assert sample["Type"] == stored["type"] and sample["Severity"] == stored["severity"]
    assert sample["Service"]["Count"] == stored["service"]["count"]
    assert sample["Service"]["FeatureName"] == "RuntimeMonitoring"
    process = sample["Service"]["RuntimeDetails"]["Process"]
    assert process["Name"] == stored["service"]["runtimeDetails"]["process"]["name"]
    assert [p["Name"] for p in process["Lineage"]] == ["sh", "node"]
    assert isinstance(process["StartTime"], datetime)
    task = sample["Resource"]["EcsClusterDetails"]["TaskDetails"]
    assert task["Containers"][0]["Image"] == sample["Resource"]["ContainerDetails"]["Image"]


def test_aggregated_findings_carry_count_and_last_seen(api_env: ApiEnv, gd: Any) -> None:
    ids = _all_ids(gd, api_env.detector, FindingCriteria={"Criterion": {"service.count": {"Gte": 2}}})
    assert len(ids) == 10  # every fourth of 37 seeded findings recurred
    for finding in gd.get_findings(DetectorId=api_env.detector, FindingIds=ids)["Findings"]:
        service = finding["Service"]
        assert service["Count"] == 2
        assert service["EventLastSeen"] > service["EventFirstSeen"]
        assert finding["UpdatedAt"] > finding["CreatedAt"]


def test_get_findings_ignores_unknown_ids(api_env: ApiEnv, gd: Any) -> None:
    known = next(iter(api_env.findings))
    response = gd.get_findings(DetectorId=api_env.detector, FindingIds=[known, "0" * 32])
    assert [f["Id"] for f in response["Findings"]] == [known]


def test_statistics_count_by_severity(api_env: ApiEnv, gd: Any) -> None:
    stats = gd.get_findings_statistics(
        DetectorId=api_env.detector, FindingStatisticTypes=["COUNT_BY_SEVERITY"]
    )
    counts = stats["FindingStatistics"]["CountBySeverity"]
    expected: dict[str, int] = {}
    for doc in api_env.findings.values():
        expected[str(doc["severity"])] = expected.get(str(doc["severity"]), 0) + 1
    assert counts == expected


def test_statistics_group_by(api_env: ApiEnv, gd: Any) -> None:
    by_type = gd.get_findings_statistics(DetectorId=api_env.detector, GroupBy="FINDING_TYPE")
    rows = by_type["FindingStatistics"]["GroupedByFindingType"]
    assert sum(r["TotalFindings"] for r in rows) == SEEDED
    assert [r["TotalFindings"] for r in rows] == sorted((r["TotalFindings"] for r in rows), reverse=True)
    assert all(isinstance(r["LastGeneratedAt"], datetime) for r in rows)

    high = gd.get_findings_statistics(
        DetectorId=api_env.detector,
        GroupBy="RESOURCE",
        OrderBy="ASC",
        MaxResults=2,
        FindingCriteria={"Criterion": {"severity": {"Gte": 7}}},
    )["FindingStatistics"]["GroupedByResource"]
    assert len(high) == 2 and high[0]["TotalFindings"] <= high[1]["TotalFindings"]
    assert {r["ResourceType"] for r in high} <= {"ECSCluster", "Instance"}

    for group, member in (
        ("ACCOUNT", "GroupedByAccount"),
        ("DATE", "GroupedByDate"),
        ("SEVERITY", "GroupedBySeverity"),
    ):
        rows = gd.get_findings_statistics(DetectorId=api_env.detector, GroupBy=group, MaxResults=100)[
            "FindingStatistics"
        ][member]
        assert sum(r["TotalFindings"] for r in rows) == SEEDED, group
    account = gd.get_findings_statistics(DetectorId=api_env.detector, GroupBy="ACCOUNT")["FindingStatistics"]
    assert account["GroupedByAccount"][0]["AccountId"] == "123456789012"


def test_statistics_respect_criteria(api_env: ApiEnv, gd: Any) -> None:
    criteria = {"Criterion": {"resource.ecsClusterDetails.name": {"Eq": ["prod"]}}}
    rows = gd.get_findings_statistics(
        DetectorId=api_env.detector, GroupBy="SEVERITY", FindingCriteria=criteria
    )
    total = sum(r["TotalFindings"] for r in rows["FindingStatistics"]["GroupedBySeverity"])
    condition = Condition(field="resource.ecsClusterDetails.name", op=Op.EQ, values=("prod",))
    assert total == sum(1 for d in api_env.findings.values() if matches(d, [condition]))


def _bad_request(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == "BadRequestException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


def test_unknown_detector_is_a_bad_request(api_env: ApiEnv, gd: Any) -> None:
    message = _bad_request(lambda: gd.list_findings(DetectorId="0" * 32))
    assert "detectorId" in message
    _bad_request(lambda: gd.get_detector(DetectorId="f" * 32))
    _bad_request(lambda: gd.get_findings(DetectorId="0" * 32, FindingIds=[]))


def test_bad_criteria_are_bad_requests(api_env: ApiEnv, gd: Any) -> None:
    det = api_env.detector
    assert "field name" in _bad_request(
        lambda: gd.list_findings(DetectorId=det, FindingCriteria={"Criterion": {"type; drop": {"Eq": ["x"]}}})
    )
    assert "no condition" in _bad_request(
        lambda: gd.list_findings(DetectorId=det, FindingCriteria={"Criterion": {"type": {}}})
    )
    assert "only available for filters" in _bad_request(
        lambda: gd.list_findings(
            DetectorId=det, FindingCriteria={"Criterion": {"type": {"Matches": ["Impact*"]}}}
        )
    )
    assert "1 to 50 values" in _bad_request(
        lambda: gd.list_findings(
            DetectorId=det, FindingCriteria={"Criterion": {"type": {"Eq": [str(i) for i in range(51)]}}}
        )
    )
    assert "nextToken" in _bad_request(lambda: gd.list_findings(DetectorId=det, NextToken="garbage"))
    assert "groupBy" in _bad_request(lambda: gd.get_findings_statistics(DetectorId=det))


def test_invalid_payloads_rejected_by_the_server(api_env: ApiEnv) -> None:
    # Client-side validation off: the server itself must reject what botocore normally would.
    raw = api_env.client(parameter_validation=False)
    det = api_env.detector
    assert "at most 50" in _bad_request(
        lambda: raw.get_findings(DetectorId=det, FindingIds=[f"{i:032x}" for i in range(51)])
    )
    assert "maxResults" in _bad_request(lambda: raw.list_findings(DetectorId=det, MaxResults=51))
    assert "maxResults" in _bad_request(lambda: raw.list_findings(DetectorId=det, MaxResults=0))
    assert "integer" in _bad_request(
        lambda: raw.list_findings(DetectorId=det, FindingCriteria={"Criterion": {"severity": {"Gt": "high"}}})
    )
    assert "ASC or DESC" in _bad_request(
        lambda: raw.list_findings(DetectorId=det, SortCriteria={"AttributeName": "type", "OrderBy": "UP"})
    )
    assert "groupBy must be one of" in _bad_request(
        lambda: raw.get_findings_statistics(DetectorId=det, GroupBy="COLOUR")
    )
    assert "only be used with groupBy" in _bad_request(
        lambda: raw.get_findings_statistics(
            DetectorId=det, FindingStatisticTypes=["COUNT_BY_SEVERITY"], MaxResults=5
        )
    )


def test_unknown_condition_operator(api_env: ApiEnv) -> None:
    body = json.dumps({"findingCriteria": {"criterion": {"type": {"like": ["x"]}}}}).encode()
    response = api_env.signed("POST", f"/detector/{api_env.detector}/findings", body)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert "unknown condition 'like'" in response.json()["message"]


def test_malformed_json_body(api_env: ApiEnv) -> None:
    response = api_env.signed("POST", f"/detector/{api_env.detector}/findings", b"{not json")
    assert response.status_code == 400
    assert response.json() == {
        "message": "the request body is not valid JSON",
        "__type": "BadRequestException",
    }
