"""The NATS JetStream bus against a real nats-server: partitioned subjects that keep a resource's
events in order, JetStream's duplicate window on republished batches, acks, naks and redelivery
counts, malformed messages dropped and counted, a full stream and an absent server refused
with a clear error (never a silent loss)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from rtguard.bus.base import BusError
from rtguard.bus.nats import NatsBus, NatsConfig
from rtguard.model.codec import encode_event
from rtguard.model.events import Event
from rtguard.testing.agentbatch import miner_event
from rtguard.testing.nats import NatsServer

ACCOUNT = "123456789012"


def _batch(n: int, containers: int, t0: int = 1_700_000_000_000_000_000) -> tuple[list[str], list[Event]]:
    events = [miner_event(t0 + i, container=f"{i % containers:064x}", exe=f"/tmp/m{i}") for i in range(n)]
    return [json.dumps(encode_event(e)) for e in events], events


@pytest.fixture
def bus(nats_server: NatsServer) -> Iterator[NatsBus]:
    b = NatsBus(nats_server.url, NatsConfig(ack_wait=1.0, partitions=8))
    yield b
    b.close()


def _exe(event: Any) -> str:
    return str(event["process"]["exe_path"])


def _drain(bus: NatsBus, want: int) -> list[tuple[str, list[str], int]]:
    got: list[tuple[str, list[str], int]] = []
    for _ in range(20):
        for m in bus.fetch(50, 0.5):
            got.append((m.key, [_exe(e) for e in m.events], m.delivery))
            bus.ack(m)
        if len(got) >= want:
            break
    return got


def test_events_are_partitioned_by_container_and_stay_in_order(bus: NatsBus) -> None:
    lines, events = _batch(30, containers=3)
    bus.batch_stored(ACCOUNT, "agent-1", 1, lines, events, new=True)
    got = _drain(bus, 3)
    assert sorted(k for k, _p, _d in got) == sorted(
        f"agent-1/1/{p}/0" for p in {bus.subject(ACCOUNT, e)[0] for e in events}
    )
    by_container: dict[str, list[str]] = {}
    for e in events:
        by_container.setdefault(e.container.id if e.container else "", []).append(e.process.exe_path)
    # Each message holds one container's events, in the order the agent sent them.
    assert sorted(paths for _k, paths, _d in got) == sorted(by_container.values())
    assert bus.counters["messages_published"] == 3 and bus.counters["messages_acked"] == 3


def test_a_republished_batch_is_a_duplicate_for_jetstream(bus: NatsBus) -> None:
    lines, events = _batch(4, containers=2)
    bus.batch_stored(ACCOUNT, "agent-1", 7, lines, events, new=True)
    bus.batch_stored(ACCOUNT, "agent-1", 7, lines, events, new=False)  # an agent retry
    assert bus.counters["messages_duplicate"] == bus.counters["messages_published"] == 2
    assert len(_drain(bus, 2)) == 2
    assert bus.fetch(10, 0.3) == []


def test_nak_and_ack_timeout_redeliver_and_are_counted(bus: NatsBus) -> None:
    lines, events = _batch(2, containers=2)
    bus.batch_stored(ACCOUNT, "agent-1", 1, lines, events, new=True)
    first = bus.fetch(10, 1.0)
    assert len(first) == 2 and all(m.delivery == 1 for m in first)
    bus.nak(first[0], 0.1)  # refused: again soon; first[1] neither acked nor refused: after ack_wait
    again = _drain(bus, 2)
    assert sorted(k for k, _p, _d in again) == sorted(m.key for m in first)
    assert all(d == 2 for _k, _p, d in again)
    assert bus.counters["redeliveries"] == 2
    assert "rtguard_bus_redeliveries_total 2" in bus.metrics_lines()


def test_large_batches_are_split_under_max_payload(bus: NatsBus) -> None:
    lines, events = _batch(400, containers=1)
    big = [line[:-1] + ',"pad":"' + "x" * 3000 + '"}' for line in lines]  # ~1.3 MB for one container
    bus.batch_stored(ACCOUNT, "agent-1", 1, big, events, new=True)
    assert bus.counters["messages_published"] >= 2
    got = _drain(bus, bus.counters["messages_published"])
    paths = [p for _k, ps, _d in sorted(got, key=lambda g: int(g[0].rsplit("/", 1)[1])) for p in ps]
    assert paths == [e.process.exe_path for e in events]  # nothing lost, order kept across chunks


async def _publish_raw(url: str, subject: str, body: bytes) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().publish(subject, body)
    finally:
        await nc.close()


def test_malformed_messages_are_dropped_and_counted(bus: NatsBus, nats_server: NatsServer) -> None:
    asyncio.run(_publish_raw(nats_server.url, "rtguard.events.0", b"{not json"))
    asyncio.run(_publish_raw(nats_server.url, "rtguard.events.0", b'{"v":99}'))
    assert bus.fetch(10, 1.0) == []
    assert bus.counters["dropped_bad_message"] == 2
    assert bus.fetch(10, 1.5) == []  # terminated, not redelivered
    assert 'rtguard_dropped_total{stage="bus",reason="bad_message"} 2' in bus.metrics_lines()


def test_a_full_stream_refuses_new_batches(nats_server: NatsServer) -> None:
    small = NatsBus(nats_server.url, NatsConfig(stream="SMALL", subject_prefix="small", max_bytes=64 * 1024))
    try:
        lines, events = _batch(20, containers=1)
        with pytest.raises(BusError, match="refused"):
            for seq in range(100):
                small.batch_stored(ACCOUNT, "agent-1", seq, lines, events, new=True)
        assert small.counters["publish_failed"] == 1
        kept = small.counters["messages_published"]
        assert kept >= 1 and len(_drain(small, kept)) == kept  # what was accepted is all there
    finally:
        small.close()


def test_an_absent_server_is_a_clear_error(nats_server: NatsServer) -> None:
    url = nats_server.url
    nats_server.stop()
    with pytest.raises(BusError, match=r"cannot connect to NATS at nats://127\.0\.0\.1"):
        NatsBus(url, NatsConfig(timeout=1.0))


def test_a_stopped_server_fails_publishes_until_it_is_back(nats_server: NatsServer) -> None:
    bus = NatsBus(nats_server.url, NatsConfig(ack_wait=1.0, timeout=1.0))
    try:
        _stop_and_come_back(bus, nats_server)
    finally:
        bus.close()


def _stop_and_come_back(bus: NatsBus, nats_server: NatsServer) -> None:
    lines, events = _batch(2, containers=1)
    bus.batch_stored(ACCOUNT, "agent-1", 1, lines, events, new=True)
    nats_server.stop()
    with pytest.raises(BusError):
        bus.batch_stored(ACCOUNT, "agent-1", 2, lines, events, new=True)
    nats_server.start()  # same port and file store: the stored message survived the restart
    for _ in range(100):
        try:
            bus.batch_stored(ACCOUNT, "agent-1", 2, lines, events, new=False)
            break
        except BusError:
            time.sleep(0.1)
    got = _drain(bus, 2)
    p = bus.subject(ACCOUNT, events[0])[0]
    assert sorted(k for k, _p, _d in got) == [f"agent-1/1/{p}/0", f"agent-1/2/{p}/0"]


async def _stream(url: str, name: str, create_in_memory: bool = False) -> tuple[int, str]:
    """(max_bytes, storage) of a stream; first creates it in memory when asked."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        if create_in_memory:
            await js.add_stream(StreamConfig(name=name, subjects=["clash.*"], storage=StorageType.MEMORY))
        info = await js.stream_info(name)
        return int(info.config.max_bytes or 0), str(StorageType(info.config.storage).value)
    finally:
        await nc.close()


def test_limits_of_an_existing_stream_are_updated_and_a_clash_is_explained(nats_server: NatsServer) -> None:
    NatsBus(nats_server.url, NatsConfig(max_bytes=1 << 20)).close()
    NatsBus(nats_server.url, NatsConfig(max_bytes=2 << 20)).close()  # a new --nats-max-mb: updated
    max_bytes, storage = asyncio.run(_stream(nats_server.url, "RTGUARD_EVENTS"))
    assert max_bytes == 2 << 20 and storage == StorageType.FILE.value
    asyncio.run(_stream(nats_server.url, "CLASH", create_in_memory=True))
    with pytest.raises(BusError, match=r"cannot change.*--nats-stream"):
        NatsBus(nats_server.url, NatsConfig(stream="CLASH", subject_prefix="clash"))
