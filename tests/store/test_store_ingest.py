"""The ingest log: idempotent batches, ordered reads, consumer cursors, concurrent writers."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy.exc import IntegrityError

from rtguard.store import SqlStore

ACCOUNT = "111122223333"


def _events(agent: str, seq: int, n: int) -> list[str]:
    return [json.dumps({"agent": agent, "seq": seq, "i": i}) for i in range(n)]


def test_retried_batch_is_acknowledged_without_duplicates(store: SqlStore) -> None:
    assert store.record_batch(ACCOUNT, "agent-1", 1, _events("agent-1", 1, 3)) is True
    assert store.record_batch(ACCOUNT, "agent-1", 1, _events("agent-1", 1, 5)) is False
    assert store.count_events() == 3
    assert store.record_batch(ACCOUNT, "agent-1", 2, _events("agent-1", 2, 2)) is True
    assert store.record_batch(ACCOUNT, "agent-2", 1, _events("agent-2", 1, 1)) is True
    assert store.count_events() == 6
    assert store.count_events("agent-1") == 5
    assert store.count_events("agent-3") == 0


def test_empty_batch_is_recorded(store: SqlStore) -> None:
    assert store.record_batch(ACCOUNT, "agent-1", 7, []) is True
    assert store.record_batch(ACCOUNT, "agent-1", 7, []) is False
    assert store.count_events() == 0


def test_failed_batch_stores_nothing(store: SqlStore) -> None:
    with pytest.raises(IntegrityError):
        store.record_batch("999999999999", "agent-x", 1, _events("agent-x", 1, 2))
    assert store.count_events() == 0
    # The key was not consumed: the batch can be stored once the account exists.
    store.create_account("999999999999", "eu-west-1")
    assert store.record_batch("999999999999", "agent-x", 1, _events("agent-x", 1, 2)) is True


def test_events_after_reads_in_order_with_limit(store: SqlStore) -> None:
    store.record_batch(ACCOUNT, "a", 1, _events("a", 1, 4))
    store.record_batch(ACCOUNT, "a", 2, _events("a", 2, 3))
    first = store.events_after(0, 5)
    assert [json.loads(r.event_json)["i"] for r in first] == [0, 1, 2, 3, 0]
    assert all(r.account_id == ACCOUNT for r in first)
    ids = [r.id for r in first]
    assert ids == sorted(ids) and len(set(ids)) == 5
    rest = store.events_after(ids[-1], 100)
    assert len(rest) == 2 and rest[0].id > ids[-1]
    assert store.events_after(rest[-1].id, 100) == []


def test_cursor_survives_reopen(store: SqlStore, db_url: str) -> None:
    assert store.get_cursor("detect") == 0
    store.record_batch(ACCOUNT, "a", 1, _events("a", 1, 5))
    rows = store.events_after(store.get_cursor("detect"), 3)
    store.set_cursor("detect", rows[-1].id)
    store.set_cursor("other", 1)
    store.close()
    reopened = SqlStore(db_url)
    position = reopened.get_cursor("detect")
    assert position == rows[-1].id
    assert reopened.get_cursor("other") == 1
    remaining = reopened.events_after(position, 100)
    assert [json.loads(r.event_json)["i"] for r in remaining] == [3, 4]
    reopened.close()


def test_concurrent_writers_lose_nothing_and_duplicate_nothing(store: SqlStore) -> None:
    results: dict[str, list[bool]] = {}
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        accepted = []
        try:
            for seq in range(60):
                # Both threads send the same "shared" batches: exactly one of them may win each.
                accepted.append(store.record_batch(ACCOUNT, "shared", seq, _events("shared", seq, 2)))
                store.record_batch(ACCOUNT, name, seq, _events(name, seq, 3))
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        results[name] = accepted

    threads = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    wins = [a or b for a, b in zip(results["t0"], results["t1"], strict=True)]
    both = [a and b for a, b in zip(results["t0"], results["t1"], strict=True)]
    assert all(wins) and not any(both)
    assert store.count_events("shared") == 120
    assert store.count_events("t0") == store.count_events("t1") == 180
    ids = [r.id for r in store.events_after(0, 10_000)]
    assert len(ids) == 480 and ids == sorted(set(ids))
