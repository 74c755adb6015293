"""What ingest and the detection worker need of a bus, and what a bus that carries events hands
the worker: the ``Bus`` protocol (told when a batch is durable in the store), the ``EventStream``
protocol (durable messages fetched, acked after their findings are stored, or refused for a later
redelivery), ``BusMessage``, ``BusError`` and the partition key that keeps one resource's events in
order.

Declarations and pure functions only: no I/O, no backend import, no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rtguard.model.codec import JsonDict
from rtguard.model.events import Event

__all__ = ["Bus", "BusError", "BusMessage", "Doorbell", "EventStream", "partition_key"]


class BusError(Exception):
    """The bus cannot take or give messages now (server away, stream full, timeout). Ingest answers
    503 so the agent keeps the batch and retries; the worker waits and fetches again."""


class Bus(Protocol):
    """Ingest's side of a bus."""

    def batch_stored(
        self,
        account_id: str,
        agent_id: str,
        seq: int,
        lines: Sequence[str],
        events: Sequence[Event],
        *,
        new: bool,
    ) -> None:
        """The batch ``(agent_id, seq)`` is durable in the store (``new``: stored just now; False:
        a retry of one stored before). Returns once the bus holds it durably.

        Raises:
            BusError: the bus could not take it; the caller must not acknowledge the batch.
        """
        ...

    def notify(self) -> None:
        """Wake a waiting worker (also used to stop it)."""
        ...


class Doorbell(Protocol):
    """The worker's side of a bus that carries no events (the embedded mode): the store's event
    log is the queue, the bell says when to read it."""

    def recall(self, line: str) -> Event | None:
        """The decoded event ingest stored as ``line``, if still kept (saves decoding it again)."""
        ...

    def notify(self) -> None:
        """Ring (also used to stop a waiting worker)."""
        ...

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a ring."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BusMessage:
    """One durable message: some events of one partition from one agent batch.

    ``key`` is unique per message and stable across redeliveries and re-publications of the same
    batch (``agent/seq/partition/chunk``): the store applies a message's findings once per key.
    """

    key: str
    account_id: str
    events: tuple[JsonDict, ...]
    delivery: int  # 1 on first delivery
    handle: object  # the backend's message, for ack/nak


@runtime_checkable
class EventStream(Protocol):
    """The worker's side of a bus that carries events (NATS JetStream)."""

    def fetch(self, max_messages: int, timeout: float) -> list[BusMessage]:
        """Up to ``max_messages`` messages, waiting up to ``timeout`` s for the first; may be empty.

        Raises:
            BusError: the bus is unreachable.
        """
        ...

    def ack(self, message: BusMessage) -> None:
        """The message's findings are stored: never deliver it again."""
        ...

    def nak(self, message: BusMessage, delay: float) -> None:
        """Processing failed: deliver it again after ``delay`` seconds."""
        ...

    def in_progress(self, message: BusMessage) -> None:
        """Still working on it: restart its redelivery timer."""
        ...

    def term(self, message: BusMessage) -> None:
        """The message can never be processed (malformed): stop delivering it (count the drop)."""
        ...

    def notify(self) -> None:
        """Wake a worker pausing in :meth:`wait`."""
        ...

    def wait(self, timeout: float) -> bool:
        """Pause up to ``timeout`` s unless notified."""
        ...


def partition_key(event: Event) -> str:
    """The resource whose events must stay in order: the container, else the host.

    Not ``resource_key``: a container's first events arrive before its ECS task is known and
    would start a second, empty partition when the task appears (a binary written before and
    run after would not be matched).
    """
    if event.container is not None:
        return f"container:{event.container.id}"
    return f"instance:{event.host.instance_id or event.host.hostname}"
