"""Wire-version negotiation: the exporter writes version 1 until the server's heartbeat answer
offers a newer one, and leaves out (and counts) event kinds the server cannot read, so an agent
upgraded before its server loses no batch."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from rtguard.agent.export.http import AgentIdentity, HttpExporter
from rtguard.agent.export.spool import DiskSpool
from rtguard.agent.transport import Response
from rtguard.model.codec import decode_batch
from rtguard.model.events import Event, EventKind, ExecPayload, Host, NetPayload, Process


class Server:
    """Answers heartbeats with ``offer`` (None: an older server that does not say) and, like an
    older server, refuses batch versions it does not read."""

    def __init__(self, offer: object, reads: tuple[int, ...]) -> None:
        self.offer = offer
        self.reads = reads
        self.versions: list[int] = []
        self.pids: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> Response:
        if url.endswith("/heartbeat"):
            answer: dict[str, object] = {"enabled": True}
            if self.offer is not None:
                answer["wire_versions"] = self.offer
            return Response(200, json.dumps(answer).encode())
        doc = json.loads(gzip.decompress(body or b""))
        if doc["version"] not in self.reads:
            return Response(400, b'{"message":"unsupported version"}')
        with self.lock:
            self.versions.append(doc["version"])
            self.pids += [e.process.pid for e in decode_batch(doc).events]
        return Response(200, b"{}")


def _events(start: int, n: int) -> list[Event]:
    """``n`` execs (every other one of a shared process), then one ``stdio_redirect``."""
    host, proc, exe = Host(hostname="h"), Process(exec_id="p", pid=0), ExecPayload(filename="/bin/true")
    dup = NetPayload(family=2, protocol=6, remote_ip="10.1.1.1", remote_port=4444, fd=1)
    return [
        *[
            Event(
                kind=EventKind.PROCESS_EXEC,
                time=i,
                host=host,
                process=Process(exec_id=f"e{i}", pid=i) if i % 2 else proc,  # every other one shared
                payload=exe,
            )
            for i in range(start, start + n)
        ],
        Event(kind=EventKind.STDIO_REDIRECT, time=0, host=host, process=proc, payload=dup),
    ]


def _send(tmp_path: Path, server: Server) -> HttpExporter:
    exp = HttpExporter(
        "http://127.0.0.1:1",
        "t",
        DiskSpool(tmp_path / "spool"),
        AgentIdentity(tmp_path / "id"),
        transport=server,
    )
    try:
        exp.export(_events(0, 10))  # before any heartbeat
        assert exp.heartbeat({"agent_id": exp.agent_id}) is not None
        exp.export(_events(10, 10))
        deadline = time.monotonic() + 10
        while exp.queued_batches() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        exp.shutdown()
    return exp


def test_the_newest_common_version_once_the_server_offers_it(tmp_path: Path) -> None:
    server = Server(offer=[1, 2, 3], reads=(1, 2, 3))
    exp = _send(tmp_path, server)
    assert server.versions == [1, 3]
    execs = [0 if i % 2 == 0 else i for i in range(20)]
    assert server.pids == [*execs[:10], *execs[10:], 0]  # the first batch's dup was left out
    assert exp.counters["events_server_too_old"] == 1
    assert exp.counters["events_rejected"] == 0


def test_a_version_2_server_gets_version_2_without_the_newer_kind(tmp_path: Path) -> None:
    server = Server(offer=[1, 2], reads=(1, 2))
    exp = _send(tmp_path, server)
    assert server.versions == [1, 2]
    assert server.pids == [0 if i % 2 == 0 else i for i in range(20)]
    assert exp.counters["events_server_too_old"] == 2 and exp.counters["events_rejected"] == 0


@pytest.mark.parametrize("offer", [None, [1], [1, 99], "2", [True, 2.0]])
def test_an_older_or_odd_server_keeps_getting_version_1(tmp_path: Path, offer: object) -> None:
    server = Server(offer=offer, reads=(1,))
    exp = _send(tmp_path, server)
    assert server.versions == [1, 1]
    assert len(server.pids) == 20 and exp.counters["events_rejected"] == 0
    assert exp.counters["events_server_too_old"] == 2
    assert exp.wire_version == 1
