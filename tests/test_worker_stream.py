"""The detection worker over NATS JetStream (a real nats-server) and a real store: findings stored
once per message and acked after, a crash between storing and acking redelivers without counting
twice, a store failure naks the message and it is stored once when the store is back, and a
partition's state (a binary written, then run) survives across batches."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rtguard.bus.nats import NatsBus, NatsConfig
from rtguard.detect import build_engine
from rtguard.model.codec import encode_event
from rtguard.model.events import Event
from rtguard.store.base import FindingUpsert
from rtguard.store.sqlite import SqlStore
from rtguard.testing.agentbatch import MINER, miner_event
from rtguard.testing.events import exec_event, file_event
from rtguard.testing.nats import NatsServer
from rtguard.worker import DetectionWorker

ACCOUNT = "123456789012"
T0 = 1_700_000_000_000_000_000


class FlakyStore(SqlStore):
    """A real store whose next ``fail`` findings transactions fail (a database outage)."""

    fail = 0

    def apply_findings_once(
        self, message_key: str, upserts: Sequence[FindingUpsert]
    ) -> list[tuple[dict[str, Any], bool]] | None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("database unavailable")
        return super().apply_findings_once(message_key, upserts)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FlakyStore]:
    s = FlakyStore(f"sqlite:///{tmp_path / 'w.db'}")
    s.create_account(ACCOUNT, "us-east-1")
    yield s
    s.close()


def _bus(server: NatsServer) -> NatsBus:
    return NatsBus(server.url, NatsConfig(ack_wait=1.0, partitions=4))


def _worker(store: SqlStore, bus: NatsBus) -> DetectionWorker:
    engine, result = build_engine()
    assert result.ok
    return DetectionWorker(store, engine, bus, region="us-east-1")


def _publish(bus: NatsBus, seq: int, events: list[Event]) -> None:
    lines = [json.dumps(encode_event(e)) for e in events]
    bus.batch_stored(ACCOUNT, "agent-1", seq, lines, events, new=True)


def _miner_count(store: SqlStore, det: str) -> int:
    page = store.query_findings(det, [], None, 50, None)
    found = [f for f in store.get_findings(det, page.ids) if f["type"] == MINER]
    return sum(int(f["service"]["count"]) for f in found)


def _run_until(worker: DetectionWorker, bus: NatsBus, done: Any, rounds: int = 40) -> None:
    for _ in range(rounds):
        worker.run_stream_once(bus, timeout=0.3)
        if done():
            return
    raise AssertionError(f"not done after {rounds} rounds: {dict(worker.counters)} {dict(bus.counters)}")


def test_findings_are_stored_once_and_acked(store: FlakyStore, nats_server: NatsServer) -> None:
    det = store.create_detector(ACCOUNT)
    bus = _bus(nats_server)
    try:
        worker = _worker(store, bus)
        _publish(bus, 1, [miner_event(T0 + i, container=f"{i % 2:064x}") for i in range(6)])
        _run_until(worker, bus, lambda: bus.counters["messages_acked"] == 2)
        assert _miner_count(store, det) == 6
        assert worker.counters["events_processed"] == 6
        assert worker.run_stream_once(bus, timeout=1.5) == 0  # acked: never delivered again
    finally:
        bus.close()


def test_a_crash_before_the_ack_redelivers_without_counting_twice(
    store: FlakyStore, nats_server: NatsServer
) -> None:
    det = store.create_detector(ACCOUNT)
    crashed = _bus(nats_server)
    worker = _worker(store, crashed)
    _publish(crashed, 1, [miner_event(T0 + i) for i in range(3)])
    (message,) = crashed.fetch(10, 2.0)
    assert worker.handle_message(message) is True  # findings stored ...
    crashed.close()  # ... and the process dies before its ack
    assert _miner_count(store, det) == 3
    bus = _bus(nats_server)
    try:
        restarted = _worker(store, bus)
        _run_until(restarted, bus, lambda: bus.counters["messages_acked"] == 1)
        assert restarted.counters["redeliveries"] == 1
        assert restarted.counters["messages_already_applied"] == 1
        assert _miner_count(store, det) == 3  # not 6
    finally:
        bus.close()


def test_a_short_store_failure_is_retried_in_place(store: FlakyStore, nats_server: NatsServer) -> None:
    det = store.create_detector(ACCOUNT)
    bus = _bus(nats_server)
    try:
        worker = _worker(store, bus)
        store.fail = 2  # fewer than the worker's 3 retries
        _publish(bus, 1, [miner_event(T0 + i) for i in range(4)])
        _run_until(worker, bus, lambda: bus.counters["messages_acked"] == 1)
        assert worker.counters["store_failures"] == 2
        assert bus.counters["messages_naked"] == 0 and worker.counters["redeliveries"] == 0
        assert _miner_count(store, det) == 4
    finally:
        bus.close()


def test_a_long_store_failure_naks_in_order_and_stores_once_later(
    store: FlakyStore, nats_server: NatsServer
) -> None:
    det = store.create_detector(ACCOUNT)
    bus = _bus(nats_server)
    try:
        worker = _worker(store, bus)
        store.fail = 6  # 4 attempts fail, the message and the rest of its round go back; 2 more fail
        _publish(bus, 1, [miner_event(T0 + i, container=f"{i % 3:064x}") for i in range(6)])
        sent = bus.counters["messages_published"]  # one per partition the 3 containers fall in
        assert sent >= 2
        _run_until(worker, bus, lambda: bus.counters["messages_acked"] == sent)
        assert worker.counters["store_failures"] == 6
        # The failing message and the rest of its round went back, and came back.
        assert 1 <= bus.counters["messages_naked"] <= sent
        assert worker.counters["redeliveries"] == bus.counters["messages_naked"]
        assert _miner_count(store, det) == 6
    finally:
        bus.close()


def test_state_of_a_partition_spans_batches(store: FlakyStore, nats_server: NatsServer) -> None:
    det = store.create_detector(ACCOUNT)
    bus = _bus(nats_server)
    try:
        worker = _worker(store, bus)
        # A binary written in one batch and run in the next (same container, same partition) ...
        _publish(bus, 1, [file_event("/tmp/payload", name="curl", time=T0)])
        _publish(bus, 2, [exec_event("payload", exe_path="/tmp/payload", time=T0 + 1)])
        # ... and one run in another container where nothing wrote it.
        _publish(bus, 3, [exec_event("other", exe_path="/tmp/other", time=T0 + 2, container_id="d" * 64)])
        _run_until(worker, bus, lambda: bus.counters["messages_acked"] == 3)
        page = store.query_findings(det, [], None, 50, None)
        new_binary = [
            f["service"]["runtimeDetails"]["process"]["executablePath"]
            for f in store.get_findings(det, page.ids)
            if f["type"] == "Execution:Runtime/NewBinaryExecuted"
        ]
        assert new_binary == ["/tmp/payload"]
    finally:
        bus.close()


def test_the_worker_prunes_old_message_keys(
    store: FlakyStore, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_detector(ACCOUNT)
    bus = _bus(nats_server)
    try:
        worker = _worker(store, bus)
        _publish(bus, 1, [miner_event(T0)])
        _run_until(worker, bus, lambda: bus.counters["messages_acked"] == 1)
        assert worker.prune() == 0  # a key applied just now is kept (7 days)
        monkeypatch.setattr("rtguard.worker.APPLIED_KEEP", timedelta(seconds=-5))
        assert worker.prune() == 1
        assert worker.counters["applied_keys_pruned"] == 1
    finally:
        bus.close()
