"""The detection worker over a real SQLite store and the shipped rules: findings, aggregation,
bad stored events, Runtime Monitoring switched off, and detectors replaced at run time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtguard.bus.memory import MemoryBus
from rtguard.detect import build_engine
from rtguard.model.codec import encode_event
from rtguard.model.events import Container, EcsTask, Event
from rtguard.store.sqlite import SqlStore
from rtguard.testing.events import exec_event
from rtguard.worker import DetectionWorker

ACCOUNT = "123456789012"
MINER = "Impact:Runtime/CryptoMinerExecuted"


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SqlStore(f"sqlite:///{tmp_path / 'w.db'}")
    s.create_account(ACCOUNT, "us-east-1")
    yield s
    s.close()


def _miner(t: int) -> Event:
    ev = exec_event(name="xmrig", exe_path="/tmp/xmrig", argv=("xmrig", "-o", "stratum+tcp://p:1"), time=t)
    ecs = EcsTask(cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/c", task_arn="arn:task/c/1")
    return Event(
        **{
            **{f: getattr(ev, f) for f in ev.__dataclass_fields__},
            "container": Container(id="a" * 64, ecs=ecs),
        }
    )


def _record(store: Any, seq: int, events: list[Event | str]) -> None:
    lines = [e if isinstance(e, str) else json.dumps(encode_event(e)) for e in events]
    assert store.record_batch(ACCOUNT, "agent-1", seq, lines)


def _worker(store: Any) -> DetectionWorker:
    engine, result = build_engine()
    assert result.ok
    return DetectionWorker(store, engine, MemoryBus(), region="us-east-1")


def _findings(store: Any, detector: str) -> list[dict[str, Any]]:
    page = store.query_findings(detector, [], None, 50, None)
    found: list[dict[str, Any]] = store.get_findings(detector, page.ids)
    return found


def test_findings_aggregate_and_bad_events_are_counted(store: Any) -> None:
    det = store.create_detector(ACCOUNT)
    worker = _worker(store)
    _record(store, 1, [_miner(1_700_000_000_000_000_000), "{not json", '{"kind":"nope"}'])
    assert worker.run_once() == 3
    _record(store, 2, [_miner(1_700_000_001_000_000_000)])
    assert worker.run_once() == 1
    assert worker.run_once() == 0  # the cursor moved past everything
    found = _findings(store, det)
    assert [f["type"] for f in found] == [MINER]
    assert found[0]["service"]["count"] == 2
    assert worker.counters["decode_errors"] == 2
    assert store.get_cursor("detect") > 0


def test_no_findings_while_runtime_monitoring_is_off(store: Any) -> None:
    det = store.create_detector(ACCOUNT)
    store.set_runtime_features(ACCOUNT, det, [{"name": "RUNTIME_MONITORING", "status": "DISABLED"}])
    worker = _worker(store)
    _record(store, 1, [_miner(1_700_000_000_000_000_000)])
    worker.run_once()
    assert _findings(store, det) == []
    assert worker.counters["monitoring_disabled"] == 1


def test_a_replaced_detector_gets_the_new_findings(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    old = store.create_detector(ACCOUNT)
    worker = _worker(store)
    _record(store, 1, [_miner(1_700_000_000_000_000_000)])
    worker.run_once()
    assert store.delete_detector(ACCOUNT, old)
    new = store.create_detector(ACCOUNT)
    monkeypatch.setattr("rtguard.worker.DETECTOR_TTL_S", 0.0)
    _record(store, 2, [_miner(1_700_000_001_000_000_000)])
    worker.run_once()
    assert [f["type"] for f in _findings(store, new)] == [MINER]
