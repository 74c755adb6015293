"""Findings applied once per bus message key (``apply_findings_once``): a redelivered message
changes nothing, concurrent deliveries of one message apply it once, a failed one stores nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rtguard.store import SqlStore
from rtguard.store.base import FindingUpsert

ACCOUNT = "111122223333"
T0 = "2024-05-01T10:00:00.000Z"
T1 = "2024-05-01T10:05:00.000Z"
FindingFactory = Callable[..., dict[str, Any]]


def _count(store: SqlStore, detector: str, finding_id: str) -> int:
    (doc,) = store.get_findings(detector, [finding_id])
    return int(doc["service"]["count"])


def test_a_message_is_applied_once(store: SqlStore, make_finding: FindingFactory) -> None:
    det = store.create_detector(ACCOUNT)
    ups = [
        FindingUpsert(ACCOUNT, det, "f1", make_finding("f1"), T0),
        FindingUpsert(ACCOUNT, det, "f1", make_finding("f1"), T1),  # the same finding twice in one message
        FindingUpsert(ACCOUNT, det, "f2", make_finding("f2"), T0),
    ]
    first = store.apply_findings_once("agent/1/3/0", ups)
    assert first is not None
    assert [created for _doc, created in first] == [True, False, True]
    assert first[1][0]["service"]["count"] == 2 and first[1][0]["service"]["eventLastSeen"] == T1
    assert store.apply_findings_once("agent/1/3/0", ups) is None  # redelivered: nothing changes
    assert _count(store, det, "f1") == 2 and _count(store, det, "f2") == 1
    again = store.apply_findings_once("agent/2/3/0", ups[:1])  # the next batch aggregates as usual
    assert again is not None and again[0][0]["service"]["count"] == 3


def test_a_failed_message_stores_nothing_and_can_be_applied_later(
    store: SqlStore, make_finding: FindingFactory
) -> None:
    det = store.create_detector(ACCOUNT)
    broken = [
        FindingUpsert(ACCOUNT, det, "f1", make_finding("f1"), T0),
        FindingUpsert(ACCOUNT, det, "f2", {"not serialisable": object()}, T0),
    ]
    with pytest.raises(TypeError):
        store.apply_findings_once("agent/1/0/0", broken)
    assert store.get_findings(det, ["f1", "f2"]) == []  # rolled back, key not recorded
    ok = store.apply_findings_once("agent/1/0/0", broken[:1])
    assert ok is not None and _count(store, det, "f1") == 1


def test_concurrent_deliveries_of_one_message_apply_it_once(
    store: SqlStore, make_finding: FindingFactory
) -> None:
    det = store.create_detector(ACCOUNT)
    results: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def deliver(n: int) -> None:
        try:
            start.wait(10)
            for m in range(15):
                ups = [FindingUpsert(ACCOUNT, det, f"f{m % 3}", make_finding(f"f{m % 3}"), T0)]
                results.append(store.apply_findings_once(f"agent/{m}/0/0", ups))
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    applied = [r for r in results if r is not None]
    assert len(results) == 60 and len(applied) == 15  # each of the 15 messages exactly once
    assert [_count(store, det, f"f{i}") for i in range(3)] == [5, 5, 5]


def test_old_keys_are_pruned(db_url: str, make_finding: FindingFactory) -> None:
    now = [datetime(2024, 5, 1, 10, 0, tzinfo=UTC)]
    store = SqlStore(db_url, clock=lambda: now[0])
    try:
        store.create_account(ACCOUNT, "eu-west-1")
        det = store.create_detector(ACCOUNT)
        ups = [FindingUpsert(ACCOUNT, det, "f1", make_finding("f1"), T0)]
        assert store.apply_findings_once("old", ups) is not None
        now[0] += timedelta(days=8)
        assert store.apply_findings_once("new", ups) is not None
        assert store.prune_applied(now[0] - timedelta(days=7)) == 1
        assert store.apply_findings_once("new", ups) is None  # still remembered
        assert store.apply_findings_once("old", ups) is not None  # forgotten: applies again
        assert _count(store, det, "f1") == 3
    finally:
        store.close()
