"""Findings in SqlStore: aggregation on upsert, filtering, sorting, keyset paging, statistics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from rtguard.store import Condition, GroupBy, InvalidPageTokenError, Op, SortSpec, SqlStore
from rtguard.store.query import matches

ACCOUNT = "111122223333"
FindingFactory = Callable[..., dict[str, Any]]

T0 = "2024-05-01T10:00:00.000Z"


@pytest.fixture
def detector(store: SqlStore) -> str:
    return store.create_detector(ACCOUNT)


def test_new_finding_is_stored_as_is_with_count_one(
    store: SqlStore, detector: str, make_finding: FindingFactory
) -> None:
    doc = make_finding("f1")
    stored, created = store.upsert_finding(ACCOUNT, detector, "f1", doc, T0)
    assert created is True
    assert stored["service"]["count"] == 1
    assert {k: v for k, v in stored.items() if k != "service"} == {
        k: v for k, v in doc.items() if k != "service"
    }
    assert "count" not in doc["service"]  # the caller's document is not modified
    assert store.get_findings(detector, ["f1"]) == [stored]


def test_recurrence_aggregates_into_the_same_finding(
    store: SqlStore, detector: str, make_finding: FindingFactory
) -> None:
    store.upsert_finding(ACCOUNT, detector, "f1", make_finding("f1"), T0)
    later = "2024-05-01T11:30:00.000Z"
    updated, created = store.upsert_finding(ACCOUNT, detector, "f1", make_finding("f1", at=later), later)
    assert created is False
    assert updated["service"]["count"] == 2
    assert updated["service"]["eventLastSeen"] == later
    assert updated["updatedAt"] == later
    assert updated["createdAt"] == T0
    assert updated["service"]["eventFirstSeen"] == T0
    # A late, out-of-order event counts but does not move lastSeen backwards.
    stale = "2024-05-01T10:30:00.000Z"
    again, _ = store.upsert_finding(ACCOUNT, detector, "f1", make_finding("f1"), stale)
    assert again["service"]["count"] == 3
    assert again["service"]["eventLastSeen"] == later
    assert again["updatedAt"] == later
    # One from before the first sighting moves eventFirstSeen, never createdAt.
    early = "2024-05-01T09:00:00.000Z"
    first, _ = store.upsert_finding(ACCOUNT, detector, "f1", make_finding("f1"), early)
    assert first["service"]["eventFirstSeen"] == early
    assert first["createdAt"] == T0
    assert store.get_findings(detector, ["f1"]) == [first]
    # The indexed updatedAt column follows the document.
    page = store.query_findings(
        detector, [Condition(field="updatedAt", op=Op.GTE, bound=1714563000000)], None, 10, None
    )
    assert page.ids == ["f1"]


def test_concurrent_upserts_count_every_occurrence(
    store: SqlStore, detector: str, make_finding: FindingFactory
) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(25):
                store.upsert_finding(ACCOUNT, detector, "hot", make_finding("hot"), T0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    (doc,) = store.get_findings(detector, ["hot"])
    assert doc["service"]["count"] == 100


def test_get_findings_keeps_request_order_and_skips_unknown(
    store: SqlStore, detector: str, make_finding: FindingFactory
) -> None:
    for fid in ("a", "b", "c"):
        store.upsert_finding(ACCOUNT, detector, fid, make_finding(fid), T0)
    other = store.create_detector(ACCOUNT)
    assert [d["id"] for d in store.get_findings(detector, ["c", "zz", "a", "c"])] == ["c", "a"]
    assert store.get_findings(other, ["a"]) == []
    assert store.get_findings(detector, []) == []


def _seed(store: SqlStore, detector: str, make_finding: FindingFactory) -> list[dict[str, Any]]:
    docs = []
    types = (
        "Impact:Runtime/CryptoMinerExecuted",
        "Execution:Runtime/ReverseShell",
        "Discovery:Runtime/SuspiciousCommand",
    )
    for i in range(23):
        doc = make_finding(
            f"f{i:02d}",
            type_=types[i % 3],
            severity=(8.0, 5.0, 2.0)[i % 3],
            at=f"2024-05-{1 + i % 7:02d}T10:00:{i:02d}.000Z",
            cluster=("prod", "staging")[i % 2],
            process=("xmrig", "bash", "nmap", "curl")[i % 4],
            lineage=("sh", "python3") if i % 5 == 0 else ("sh",),
            archived=None if i % 6 == 0 else i % 4 == 0,
        )
        store.upsert_finding(ACCOUNT, detector, doc["id"], doc, doc["updatedAt"])
        docs.append(store.get_findings(detector, [doc["id"]])[0])
    return docs


CASES: list[list[Condition]] = [
    [Condition(field="type", op=Op.EQ, values=("Execution:Runtime/ReverseShell",))],
    [
        Condition(
            field="type",
            op=Op.NEQ,
            values=("Execution:Runtime/ReverseShell", "Impact:Runtime/CryptoMinerExecuted"),
        )
    ],
    [Condition(field="severity", op=Op.GTE, bound=5)],
    [Condition(field="severity", op=Op.EQ, values=("8",))],
    [
        Condition(field="severity", op=Op.LT, bound=5),
        Condition(field="resource.ecsClusterDetails.name", op=Op.EQ, values=("prod",)),
    ],
    [Condition(field="updatedAt", op=Op.GT, bound=1714730400000)],  # after 2024-05-03T10:00Z
    [Condition(field="service.archived", op=Op.EQ, values=("false",))],
    [Condition(field="service.archived", op=Op.EQ, values=("true",))],
    [Condition(field="service.runtimeDetails.process.lineage.name", op=Op.EQ, values=("python3",))],
    [Condition(field="service.runtimeDetails.process.name", op=Op.NEQ, values=("bash",))],
    [Condition(field="resource.instanceDetails.instanceId", op=Op.EQ, values=("i-0123",))],
    [],
]


@pytest.mark.parametrize("conditions", CASES)
def test_query_returns_exactly_the_matching_findings(
    store: SqlStore, detector: str, make_finding: FindingFactory, conditions: list[Condition]
) -> None:
    docs = _seed(store, detector, make_finding)
    expected = {d["id"] for d in docs if matches(d, conditions)}
    page = store.query_findings(detector, conditions, None, 50, None)
    assert set(page.ids) == expected and len(page.ids) == len(expected)
    assert page.next_token is None


def test_query_semantics_on_seeded_data(store: SqlStore, detector: str, make_finding: FindingFactory) -> None:
    _seed(store, detector, make_finding)

    def count(*conditions: Condition) -> int:
        return len(store.query_findings(detector, list(conditions), None, 50, None).ids)

    assert count(Condition(field="type", op=Op.EQ, values=("Execution:Runtime/ReverseShell",))) == 8
    assert count(Condition(field="severity", op=Op.GTE, bound=5)) == 16
    # i % 6 == 0 has no archived field and counts as not archived; i % 4 == 0 is archived.
    archived = {i for i in range(23) if i % 6 != 0 and i % 4 == 0}
    assert count(Condition(field="service.archived", op=Op.EQ, values=("true",))) == len(archived)
    assert count(Condition(field="service.archived", op=Op.EQ, values=("false",))) == 23 - len(archived)
    assert (
        count(Condition(field="service.runtimeDetails.process.lineage.name", op=Op.EQ, values=("python3",)))
        == 5
    )


@pytest.mark.parametrize(
    "sort",
    [
        SortSpec(field="severity", descending=True),
        SortSpec(field="updatedAt"),
        None,
        SortSpec(field="resource.ecsClusterDetails.name"),
    ],
)
def test_paging_visits_every_finding_once_in_order(
    store: SqlStore, detector: str, make_finding: FindingFactory, sort: SortSpec | None
) -> None:
    _seed(store, detector, make_finding)
    full = store.query_findings(detector, [], sort, 50, None).ids
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = store.query_findings(detector, [], sort, 5, token)
        seen.extend(page.ids)
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen == full and len(set(seen)) == 23 and pages == 5


def test_sort_orders_are_respected(store: SqlStore, detector: str, make_finding: FindingFactory) -> None:
    docs = {d["id"]: d for d in _seed(store, detector, make_finding)}
    by_severity = store.query_findings(
        detector, [], SortSpec(field="severity", descending=True), 50, None
    ).ids
    severities = [docs[i]["severity"] for i in by_severity]
    assert severities == sorted(severities, reverse=True)
    by_updated = store.query_findings(detector, [], SortSpec(field="updatedAt"), 50, None).ids
    stamps = [docs[i]["updatedAt"] for i in by_updated]
    assert stamps == sorted(stamps)


def test_new_finding_between_pages_is_neither_repeated_nor_shifting(
    store: SqlStore, detector: str, make_finding: FindingFactory
) -> None:
    _seed(store, detector, make_finding)
    sort = SortSpec(field="id")
    first = store.query_findings(detector, [], sort, 10, None)
    store.upsert_finding(ACCOUNT, detector, "a-new", make_finding("a-new"), T0)  # sorts before the cursor
    second = store.query_findings(detector, [], sort, 50, first.next_token)
    assert first.ids == [f"f{i:02d}" for i in range(10)]
    assert second.ids == [f"f{i:02d}" for i in range(10, 23)]


def test_bad_tokens_are_rejected(store: SqlStore, detector: str, make_finding: FindingFactory) -> None:
    _seed(store, detector, make_finding)
    page = store.query_findings(detector, [], None, 5, None)
    assert page.next_token is not None
    with pytest.raises(InvalidPageTokenError):
        store.query_findings(detector, [], SortSpec(field="severity"), 5, page.next_token)
    with pytest.raises(InvalidPageTokenError):
        store.query_findings(
            detector, [Condition(field="type", op=Op.EQ, values=("x",))], None, 5, page.next_token
        )
    with pytest.raises(InvalidPageTokenError):
        store.query_findings(detector, [], None, 5, "not-a-token")


def test_statistics(store: SqlStore, detector: str, make_finding: FindingFactory) -> None:
    _seed(store, detector, make_finding)
    legacy = store.finding_statistics(detector, [], None)
    assert legacy == {"countBySeverity": {"8.0": 8, "5.0": 8, "2.0": 7}}
    by_type = store.finding_statistics(detector, [], GroupBy.FINDING_TYPE)["groupedByFindingType"]
    assert [r["totalFindings"] for r in by_type] == [8, 8, 7]
    assert by_type[-1]["findingType"] == "Discovery:Runtime/SuspiciousCommand"
    ascending = store.finding_statistics(detector, [], GroupBy.FINDING_TYPE, descending=False, max_results=1)
    assert ascending["groupedByFindingType"][0]["totalFindings"] == 7
    resources = store.finding_statistics(detector, [], GroupBy.RESOURCE)["groupedByResource"]
    assert {(r["resourceType"], r["resourceId"], r["totalFindings"]) for r in resources} == {
        ("ECSCluster", "prod", 12),
        ("ECSCluster", "staging", 11),
    }
    filtered = store.finding_statistics(
        detector, [Condition(field="severity", op=Op.GTE, bound=8)], GroupBy.SEVERITY
    )["groupedBySeverity"]
    assert filtered == [
        {"severity": 8.0, "lastGeneratedAt": filtered[0]["lastGeneratedAt"], "totalFindings": 8}
    ]
    by_date = store.finding_statistics(detector, [], GroupBy.DATE, max_results=100)["groupedByDate"]
    assert sum(r["totalFindings"] for r in by_date) == 23
    assert all(r["date"] % 86400 == 0 for r in by_date)
    assert store.finding_statistics(store.create_detector(ACCOUNT), [], None) == {"countBySeverity": {}}
