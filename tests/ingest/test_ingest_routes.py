"""Agent ingest over HTTP: token auth, idempotent batches, size limits, hostile input."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from rtguard.bus.memory import MemoryBus
from rtguard.ingest.routes import AgentRegistry, IngestLimits, build_ingest_router
from rtguard.model.codec import Batch, encode_batch, encode_event
from rtguard.model.events import Event, EventKind, Host, Process
from rtguard.store.sqlite import SqlStore
from rtguard.testing.apiserver import serve_in_thread


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[httpx.Client, SqlStore, str, MemoryBus]]:
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.create_account("123456789012", "us-east-1")
    token = store.create_agent_token("123456789012")
    bus = MemoryBus()
    app = FastAPI()
    app.include_router(
        build_ingest_router(
            store, bus, AgentRegistry(), IngestLimits(max_body=64 * 1024, max_decompressed=256 * 1024)
        )
    )
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        yield client, store, token, bus
    store.close()


def _body(seq: int, n: int = 3, agent: str = "a1") -> bytes:
    events = tuple(
        Event(
            kind=EventKind.PROCESS_EXEC,
            time=i,
            host=Host(hostname="h"),
            process=Process(exec_id=f"{seq}-{i}", pid=i),
        )
        for i in range(n)
    )
    return gzip.compress(json.dumps(encode_batch(Batch(agent_id=agent, seq=seq, events=events))).encode())


def test_batch_is_stored_once_and_rings_the_bus(env: tuple[httpx.Client, SqlStore, str, MemoryBus]) -> None:
    client, store, token, bus = env
    r = client.post(
        "/agent/v1/batches",
        content=_body(1),
        headers={"authorization": f"Bearer {token}", "content-encoding": "gzip"},
    )
    assert r.status_code == 200 and r.json() == {"accepted": 3, "duplicate": False, "seq": 1}
    again = client.post(
        "/agent/v1/batches",
        content=_body(1),
        headers={"authorization": f"Bearer {token}", "content-encoding": "gzip"},
    )
    assert again.json()["duplicate"] is True
    assert store.count_events() == 3
    assert bus.rings == 1


@pytest.mark.parametrize(
    ("body", "token", "status", "fragment"),
    [
        (b"{}", None, 401, "token"),
        (b"{}", "wrong", 401, "token"),
        (b"not gzip", "T", 400, "gzip"),
        (gzip.compress(b"{not json"), "T", 400, "invalid JSON"),
        (gzip.compress(b"[" * 100000 + b"]" * 100000), "T", 400, ""),
        (
            gzip.compress(
                json.dumps({"version": 1, "agent_id": "a", "seq": 1, "events": [{"kind": "x"}]}).encode()
            ),
            "T",
            400,
            "unknown event kind",
        ),
        (gzip.compress(b" " * (300 * 1024)), "T", 400, "larger than"),
        (b"x" * (65 * 1024), "T", 413, "larger than"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(
    env: tuple[httpx.Client, SqlStore, str, MemoryBus],
    body: bytes,
    token: str | None,
    status: int,
    fragment: str,
) -> None:
    client, store, real_token, _bus = env
    r = client.post(
        "/agent/v1/batches",
        content=body,
        headers={
            "content-encoding": "gzip",
            **({"authorization": f"Bearer {real_token if token == 'T' else token}"} if token else {}),
        },
    )
    assert r.status_code == status
    assert fragment in r.json()["message"]
    assert store.count_events() == 0


def test_heartbeat_answers_configuration(env: tuple[httpx.Client, SqlStore, str, MemoryBus]) -> None:
    client, _store, token, _bus = env
    r = client.post(
        "/agent/v1/heartbeat",
        json={"agent_id": "a1", "dropped": {}},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and r.json()["enabled"] is True
    bad = client.post("/agent/v1/heartbeat", json=[1], headers={"authorization": f"Bearer {token}"})
    assert bad.status_code == 400


def test_old_and_new_wire_versions_are_stored_alike(
    env: tuple[httpx.Client, SqlStore, str, MemoryBus],
) -> None:
    """A version 1 batch (an agent not yet upgraded) and a version 2 batch (objects once, named
    by index) store the same inline event lines."""
    client, store, token, _bus = env
    host, proc = Host(hostname="h"), Process(exec_id="p", pid=9, argv=("sh", "-c", "x"))
    events = tuple(Event(kind=EventKind.PROCESS_EXEC, time=i, host=host, process=proc) for i in range(3))
    v2 = encode_batch(Batch(agent_id="a1", seq=1, events=events, version=2))
    assert v2["version"] == 2 and len(v2["objects"]) == 2  # type: ignore[arg-type]
    v1 = {"version": 1, "agent_id": "a2", "seq": 1, "events": [encode_event(e) for e in events]}
    for doc in (v2, v1):
        r = client.post(
            "/agent/v1/batches",
            content=gzip.compress(json.dumps(doc).encode()),
            headers={"authorization": f"Bearer {token}", "content-encoding": "gzip"},
        )
        assert r.status_code == 200, r.text
    stored = [json.loads(row.event_json) for row in store.events_after(0, 100)]
    assert stored[:3] == stored[3:] == [encode_event(e) for e in events]


def test_heartbeat_offers_the_wire_versions_the_server_reads(
    env: tuple[httpx.Client, SqlStore, str, MemoryBus],
) -> None:
    client, _store, token, _bus = env
    r = client.post(
        "/agent/v1/heartbeat", json={"agent_id": "a1"}, headers={"authorization": f"Bearer {token}"}
    )
    assert r.json()["wire_versions"] == [1, 2, 3]
