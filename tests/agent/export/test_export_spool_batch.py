"""Disk spool (order, bounds, crash safety) and the bounded batch processor (drops by reason)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rtguard.agent.export.batch import BatchProcessor, ExportResult, InMemoryExporter
from rtguard.agent.export.http import AgentIdentity
from rtguard.agent.export.spool import DiskSpool
from rtguard.model.events import Event, EventKind, Host, Process


def _ev(i: int) -> Event:
    return Event(
        kind=EventKind.PROCESS_EXEC, time=i, host=Host(hostname="h"), process=Process(exec_id=str(i), pid=i)
    )


def test_spool_keeps_order_and_survives_reopen(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    for seq in (5, 3, 9):
        assert spool.put(seq, f"batch{seq}".encode())
    (tmp_path / "00000000000000000099.tmp").write_bytes(b"half")  # a crash mid-write
    reopened = DiskSpool(tmp_path)
    assert len(reopened) == 3 and not list(tmp_path.glob("*.tmp"))
    seen = []
    while (item := reopened.peek()) is not None:
        seen.append(item)
        reopened.remove(item[0])
    assert seen == [(3, b"batch3"), (5, b"batch5"), (9, b"batch9")]


def test_spool_refuses_when_full_without_losing_old(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=10)
    assert spool.put(1, b"123456")
    assert not spool.put(2, b"123456")
    assert spool.refused == 1 and spool.peek() == (1, b"123456")


def test_identity_sequence_survives_restart(tmp_path: Path) -> None:
    ident = AgentIdentity(tmp_path)
    first = [ident.next_seq() for _ in range(3)]
    again = AgentIdentity(tmp_path)
    assert again.agent_id == ident.agent_id
    assert again.next_seq() > first[-1]


def test_batch_processor_delivers_everything_in_order() -> None:
    exp = InMemoryExporter()
    bp = BatchProcessor(exp, max_batch=100, interval=0.01)
    for i in range(1000):
        bp.emit(_ev(i))
    bp.shutdown()
    assert [e.time for e in exp.events] == list(range(1000))
    assert all(len(b) <= 100 for b in exp.batches)
    assert sum(bp.dropped.values()) == 0


class _Slow:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.got = 0

    def export(self, events: Sequence[Event]) -> ExportResult:
        self.release.wait(5)
        self.got += len(events)
        return ExportResult.SENT

    def shutdown(self) -> None:
        return None


def test_batch_processor_drops_and_counts_when_full() -> None:
    slow = _Slow()
    bp = BatchProcessor(slow, max_queue=50, max_batch=10, interval=0.01)
    for i in range(500):
        bp.emit(_ev(i))
    dropped = bp.dropped["queue_full"]
    slow.release.set()
    bp.shutdown()
    assert dropped > 0
    assert slow.got + dropped == 500  # nothing vanished without a count
    bp.emit(_ev(1))
    assert bp.dropped["already_shutdown"] == 1


def test_batch_processor_counts_exporter_crash() -> None:
    class Boom:
        def export(self, events: Sequence[Event]) -> ExportResult:
            raise RuntimeError("boom")

        def shutdown(self) -> None:
            return None

    bp = BatchProcessor(Boom(), interval=0.01)
    bp.emit(_ev(1))
    time.sleep(0.1)
    bp.shutdown()
    assert bp.dropped["export_failed"] == 1


def test_wait_for_room_holds_the_producer_until_the_flusher_catches_up() -> None:
    """Backpressure: with the exporter stuck the queue fills and ``wait_for_room`` times out;
    once it moves, room comes back and nothing was dropped."""
    slow = _Slow()
    bp = BatchProcessor(slow, max_queue=100, max_batch=10, interval=0.01)
    sent = 0
    while bp.wait_for_room(20, timeout=0.2):  # the producer only emits when there is room
        for _ in range(20):
            bp.emit(_ev(sent))
            sent += 1
    assert bp.queued() > 100 - 20  # it stopped because the queue was (nearly) full
    assert not bp.dropped  # and it never overfilled
    slow.release.set()
    start = time.monotonic()
    assert bp.wait_for_room(20, timeout=5)
    assert time.monotonic() - start < 5
    bp.shutdown()
    assert slow.got == sent and not bp.dropped


def test_wait_for_room_never_blocks_forever_on_a_small_queue() -> None:
    bp = BatchProcessor(InMemoryExporter(), max_queue=4, max_batch=2, interval=0.01)
    assert bp.wait_for_room(2_048, timeout=0.5)  # asks for at most half the queue
    bp.shutdown()
    assert bp.wait_for_room(2_048, timeout=0.1)  # shut down: emit counts what comes
