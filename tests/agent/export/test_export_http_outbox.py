"""The HTTP exporter's outbox: never blocks the batch thread, keeps order, bounded memory."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from rtguard.agent.export.batch import ExportResult
from rtguard.agent.export.http import AgentIdentity, HttpExporter
from rtguard.agent.export.spool import DiskSpool
from rtguard.agent.transport import Response, TransportError
from rtguard.model.codec import decode_batch
from rtguard.model.events import Event, EventKind, ExecPayload, Host, Process


def _events(n: int, start: int = 0) -> list[Event]:
    host = Host(hostname="h", boot_id="b")
    return [
        Event(
            kind=EventKind.PROCESS_EXEC,
            time=1,
            host=host,
            process=Process(exec_id=f"e{i}", pid=i + 1, argv=("x" * 200,)),
            payload=ExecPayload(filename="/bin/true"),
        )
        for i in range(start, start + n)
    ]


class FakeServer:
    """Records the sequence numbers it stores; can be down or slow."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.pids: list[int] = []
        self.down = False
        self.delay = 0.0
        self.lock = threading.Lock()

    def __call__(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> Response:
        if self.down:
            raise TransportError("connect", "down")
        time.sleep(self.delay)
        doc = json.loads(gzip.decompress(body or b""))
        with self.lock:
            if doc["seq"] not in self.seqs:  # idempotent, like the real server
                self.seqs.append(doc["seq"])
                self.pids += [e.process.pid for e in decode_batch(doc).events]
        return Response(200, b"{}")


def _exporter(tmp_path: Path, server: FakeServer, **kw: int) -> HttpExporter:
    return HttpExporter(
        "http://127.0.0.1:1",
        "t",
        DiskSpool(tmp_path / "spool"),
        AgentIdentity(tmp_path / "state"),
        transport=server,
        max_backoff=0.2,
        **kw,
    )


def _wait(cond: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_batches_arrive_in_order_through_the_sender(tmp_path: Path) -> None:
    server = FakeServer()
    exp = _exporter(tmp_path, server)
    try:
        for i in range(20):
            assert exp.export(_events(10, i * 10)) is ExportResult.QUEUED
        assert exp.flush(10)
        assert server.pids == list(range(1, 201))
        assert exp.counters["events_sent"] == 200
    finally:
        exp.shutdown()


def test_slow_server_never_blocks_export_and_memory_stays_bounded(tmp_path: Path) -> None:
    server = FakeServer()
    server.delay = 0.2
    exp = _exporter(tmp_path, server, max_outbox_bytes=4096)
    try:
        started = time.monotonic()
        results = [exp.export(_events(50, i * 50)) for i in range(30)]
        assert time.monotonic() - started < 2.0  # 30 posts would take 6 s
        assert ExportResult.SPOOLED in results  # the outbox filled: the rest went to disk
        assert exp._box_bytes <= 4096
        server.delay = 0.0
        assert exp.flush(20)
        assert server.pids == list(range(1, 1501))  # every event once, in order
    finally:
        exp.shutdown()


def test_server_down_spools_then_drains_in_order(tmp_path: Path) -> None:
    server = FakeServer()
    server.down = True
    exp = _exporter(tmp_path, server)
    try:
        for i in range(5):
            exp.export(_events(10, i * 10))
        assert _wait(lambda: exp.counters["send_errors"] > 0)
        exp.export(_events(10, 50))
        server.down = False
        assert exp.flush(20)
        assert server.pids == list(range(1, 61))
    finally:
        exp.shutdown()


def test_shutdown_keeps_unsent_batches_on_disk(tmp_path: Path) -> None:
    server = FakeServer()
    server.down = True
    exp = _exporter(tmp_path, server)
    for i in range(3):
        exp.export(_events(5, i * 5))
    exp.shutdown()
    assert len(DiskSpool(tmp_path / "spool")) == 3
    server.down = False
    again = _exporter(tmp_path, server)
    try:
        assert again.flush(20)
        assert server.pids == list(range(1, 16))
    finally:
        again.shutdown()
