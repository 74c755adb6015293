"""The scale-out bus: NATS JetStream (nats-py). Ingest publishes each stored agent batch, split
by partition, to a file-backed work-queue stream and acks the agent only after JetStream acked
every message; the detection worker pulls from one durable consumer, acks a message after its
findings are stored, and gets it again after a crash or a refusal.

Subjects are ``<prefix>.<p>``, ``p = crc32(account | container-or-host) mod partitions``, so one
resource's events stay in order. Each message carries ``Nats-Msg-Id = agent/seq/partition/chunk``:
a retried batch is dropped by JetStream's duplicate window, and later by the store's applied-message
keys. The stream discards *new* messages when full, so a full stream becomes a 503 to the agent
(which spools and retries), never a silent loss. This module owns the connection and its event
loop thread; it must not decode events, run detection or touch the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import zlib
from collections import Counter
from collections.abc import Coroutine, Sequence
from typing import Any, Final, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from rtguard.bus.base import BusError, BusMessage, partition_key
from rtguard.bus.config import NatsConfig
from rtguard.model.events import Event

__all__ = ["NatsBus", "NatsConfig"]

_log = logging.getLogger(__name__)
T = TypeVar("T")
_FORMAT: Final = 1  # message body version
_CONNECT_ATTEMPTS: Final = 3
_ENVELOPE: Final = 1024  # bytes kept free in each message for the envelope around the events


class NatsBus:
    """JetStream publisher (ingest) and pull consumer (detection). Thread-safe: every call runs on
    the bus's own event loop thread and waits for its result.

    Args:
        url: ``nats://host:port`` (several comma-separated servers are allowed).
        config: stream, subjects and limits.

    Raises:
        BusError: the server cannot be reached or the stream cannot be created.
    """

    def __init__(self, url: str, config: NatsConfig | None = None) -> None:
        self.url = url
        self.config = config or NatsConfig()
        if self.config.partitions < 1:
            raise ValueError("partitions must be at least 1")
        self.counters: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rtguard-nats", daemon=True)
        self._thread.start()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._wake = threading.Event()
        self._closing = False
        try:
            self._call(self._connect(), self.config.timeout * 3)
        except BusError:
            self.close()
            raise

    # -- plumbing ----------------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError as exc:
            future.cancel()
            raise BusError(f"NATS at {self.url} did not answer within {timeout:.0f} s") from exc
        except BusError:
            raise
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"NATS at {self.url}: {exc.__class__.__name__}: {exc}") from exc

    async def _connect(self) -> None:
        async def on_error(exc: Exception) -> None:
            self.counters["connection_errors"] += 1
            _log.warning("NATS connection error: %s", exc)

        async def on_disconnect() -> None:
            if self._closing:
                return
            self.counters["disconnects"] += 1
            _log.warning("NATS disconnected from %s; reconnecting", self.url)

        try:
            self._nc = await nats.connect(
                self.url.split(","),
                connect_timeout=self.config.timeout,
                max_reconnect_attempts=_CONNECT_ATTEMPTS,  # at start: fail with a clear error
                reconnect_time_wait=0.5,
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                name="rtguard",
            )
        except Exception as exc:  # nats-py raises several unrelated types for "cannot connect"
            raise BusError(f"cannot connect to NATS at {self.url}: {exc or exc.__class__.__name__}") from exc
        # Once connected, never give up reconnecting (nats-py reads this option on every attempt).
        self._nc.options["max_reconnect_attempts"] = -1
        self._js = self._nc.jetstream(timeout=self.config.timeout)
        cfg = self.config
        stream = StreamConfig(
            name=cfg.stream,
            subjects=[f"{cfg.subject_prefix}.*"],
            retention=RetentionPolicy.WORK_QUEUE,  # a message is deleted once detection acked it
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,  # full: refuse new messages (agents retry), never drop old ones
            max_bytes=cfg.max_bytes,
            duplicate_window=cfg.duplicate_window,
        )
        try:
            await self._js.add_stream(stream)
        except nats.js.errors.ServiceUnavailableError as exc:
            raise BusError(f"JetStream is not enabled on {self.url}: start nats-server with -js") from exc
        except nats.js.errors.BadRequestError:
            # It exists with other settings (say a new --nats-max-mb): update what can change.
            try:
                await self._js.update_stream(stream)
            except nats.js.errors.APIError as exc:
                raise BusError(
                    f"JetStream stream {cfg.stream} exists with settings that cannot change "
                    f"({exc.description}); give this deployment its own stream name (--nats-stream), "
                    "or delete the old stream"
                ) from exc

    def close(self) -> None:
        """Drain and close the connection, stop the loop thread. Idempotent."""
        if self._loop.is_closed():
            return
        self._closing = True
        if self._nc is not None and not self._nc.is_closed:
            try:
                self._call(self._nc.close(), self.config.timeout)
            except BusError:
                _log.warning("NATS connection did not close cleanly")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # -- ingest side -------------------------------------------------------------------------------

    def subject(self, account_id: str, event: Event) -> tuple[int, str]:
        """The partition number and subject of an event."""
        p = zlib.crc32(f"{account_id}|{partition_key(event)}".encode()) % self.config.partitions
        return p, f"{self.config.subject_prefix}.{p}"

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
        """Publish the batch's events (a retry is published again: the first attempt may not have
        reached JetStream), and return once JetStream stored every message.

        Raises:
            BusError: some message was not stored (JetStream away, stream full, timeout).
        """
        if not lines:
            return
        assert self._nc is not None
        limit = max(self._nc.max_payload - _ENVELOPE, 1024)
        by_part: dict[int, tuple[str, list[str]]] = {}
        for line, event in zip(lines, events, strict=True):
            p, subject = self.subject(account_id, event)
            by_part.setdefault(p, (subject, []))[1].append(line)
        messages: list[list[tuple[str, str, bytes]]] = []  # per partition, in order: (subject, id, body)
        for p, (subject, part_lines) in sorted(by_part.items()):
            chunks: list[tuple[str, str, bytes]] = []
            for n, chunk in enumerate(self._chunks(part_lines, limit)):
                key = f"{agent_id}/{seq}/{p}/{n}"
                chunks.append((subject, key, _body(key, account_id, chunk)))
            messages.append(chunks)
        self._call(self._publish_all(messages), self.config.timeout * 2 + 1)
        self.counters["batches_published" if new else "batches_republished"] += 1

    def _chunks(self, lines: list[str], limit: int) -> list[list[str]]:
        chunks: list[list[str]] = [[]]
        size = 0
        for line in lines:
            n = len(line.encode()) + 1
            if n > limit:
                self.counters["dropped_event_too_large"] += 1  # larger than the server's max_payload
                _log.warning("event of %d bytes is larger than NATS max_payload; dropped", n)
                continue
            if size + n > limit and chunks[-1]:
                chunks.append([])
                size = 0
            chunks[-1].append(line)
            size += n
        return [c for c in chunks if c]

    async def _publish_all(self, per_partition: list[list[tuple[str, str, bytes]]]) -> None:
        assert self._js is not None
        js = self._js

        async def one_partition(chunks: list[tuple[str, str, bytes]]) -> None:
            for subject, key, body in chunks:  # in order: a partition's events stay ordered
                try:
                    ack = await js.publish(
                        subject, body, timeout=self.config.timeout, stream=self.config.stream,
                        headers={"Nats-Msg-Id": key},
                    )  # fmt: skip
                except nats.js.errors.APIError as exc:
                    self.counters["publish_failed"] += 1
                    raise BusError(f"JetStream refused a message: {exc.description or exc}") from exc
                except (nats.errors.Error, OSError) as exc:
                    self.counters["publish_failed"] += 1
                    raise BusError(f"publishing to NATS at {self.url} failed: {exc!r}") from exc
                self.counters["messages_duplicate" if ack.duplicate else "messages_published"] += 1

        await asyncio.gather(*(one_partition(c) for c in per_partition))

    def notify(self) -> None:
        """Wake a worker waiting in :meth:`wait` (the stream itself wakes fetches)."""
        self._wake.set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` s unless notified (the worker's pause after a failure)."""
        rang = self._wake.wait(timeout)
        self._wake.clear()
        return rang

    # -- detection side ----------------------------------------------------------------------------

    async def _subscription(self) -> JetStreamContext.PullSubscription:
        if self._sub is None:
            assert self._js is not None
            cfg = self.config
            self._sub = await self._js.pull_subscribe(
                f"{cfg.subject_prefix}.*",
                durable=cfg.durable,
                stream=cfg.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=cfg.ack_wait,
                    max_deliver=-1,  # never give up on a message: a store outage must not lose events
                    max_ack_pending=cfg.max_in_flight,
                ),
            )
        return self._sub

    async def _fetch(self, max_messages: int, timeout: float) -> list[Msg]:
        sub = await self._subscription()
        try:
            # Bounded here too: a pull that never ends must not stall the worker (what it held is
            # redelivered after ack_wait).
            return await asyncio.wait_for(sub.fetch(max_messages, timeout=timeout), timeout + 2.0)
        except nats.errors.TimeoutError:
            return []
        except TimeoutError:
            self.counters["fetch_stalls"] += 1
            return []

    def fetch(self, max_messages: int, timeout: float) -> list[BusMessage]:
        """Up to ``max_messages`` messages, in stream order for new ones.

        Raises:
            BusError: NATS is unreachable.
        """
        raw = self._call(self._fetch(max_messages, timeout), timeout + self.config.timeout)
        out: list[BusMessage] = []
        for msg in raw:
            delivery = msg.metadata.num_delivered or 1
            if delivery > 1:
                self.counters["redeliveries"] += 1
            try:
                out.append(_message(msg, delivery))
            except ValueError as exc:
                self.counters["dropped_bad_message"] += 1
                _log.warning("dropping a malformed bus message on %s: %s", msg.subject, exc)
                self._call(msg.term(), self.config.timeout)
        self.counters["messages_fetched"] += len(out)
        return out

    def ack(self, message: BusMessage) -> None:
        """Acknowledge (the findings are stored)."""
        msg = message.handle
        assert isinstance(msg, Msg)
        self._call(msg.ack(), self.config.timeout)
        self.counters["messages_acked"] += 1

    def nak(self, message: BusMessage, delay: float) -> None:
        """Ask for a redelivery after ``delay`` seconds."""
        msg = message.handle
        assert isinstance(msg, Msg)
        self._call(msg.nak(delay=delay), self.config.timeout)
        self.counters["messages_naked"] += 1

    def in_progress(self, message: BusMessage) -> None:
        """Restart the message's ack-wait timer (the worker is retrying it)."""
        msg = message.handle
        assert isinstance(msg, Msg)
        self._call(msg.in_progress(), self.config.timeout)

    def term(self, message: BusMessage) -> None:
        """Never deliver this message again (counted as a drop)."""
        msg = message.handle
        assert isinstance(msg, Msg)
        self._call(msg.term(), self.config.timeout)
        self.counters["dropped_bad_message"] += 1

    def metrics_lines(self) -> list[str]:
        """Prometheus text lines of the bus counters."""
        c = self.counters
        lines = [
            "# HELP rtguard_bus_messages_total JetStream messages by outcome.",
            "# TYPE rtguard_bus_messages_total counter",
        ]
        for what in ("published", "duplicate", "fetched", "acked", "naked"):
            lines.append(f'rtguard_bus_messages_total{{outcome="{what}"}} {c["messages_" + what]}')
        lines += [
            "# HELP rtguard_bus_redeliveries_total Messages delivered again (crash, nak or ack timeout).",
            "# TYPE rtguard_bus_redeliveries_total counter",
            f"rtguard_bus_redeliveries_total {c['redeliveries']}",
            "# HELP rtguard_bus_failures_total Bus failures by reason.",
            "# TYPE rtguard_bus_failures_total counter",
            f'rtguard_bus_failures_total{{reason="publish_failed"}} {c["publish_failed"]}',
            f'rtguard_bus_failures_total{{reason="connection_error"}} {c["connection_errors"]}',
            f'rtguard_bus_failures_total{{reason="disconnect"}} {c["disconnects"]}',
            "# HELP rtguard_dropped_total Events or messages dropped, by stage and reason.",
            "# TYPE rtguard_dropped_total counter",
            f'rtguard_dropped_total{{stage="bus",reason="event_too_large"}} {c["dropped_event_too_large"]}',
            f'rtguard_dropped_total{{stage="bus",reason="bad_message"}} {c["dropped_bad_message"]}',
        ]
        return lines


def _body(key: str, account_id: str, lines: list[str]) -> bytes:
    """``{"v":1,"key":…,"account_id":…,"events":[…]}``, the stored event lines spliced in as they are."""
    head = json.dumps({"v": _FORMAT, "key": key, "account_id": account_id}, separators=(",", ":"))
    return (head[:-1] + ',"events":[' + ",".join(lines) + "]}").encode()


def _message(msg: Msg, delivery: int) -> BusMessage:
    """Parse a message body.

    Raises:
        ValueError: the body is not one this code wrote.
    """
    try:
        data = json.loads(msg.data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {str(exc)[:100]}") from exc
    if not isinstance(data, dict) or data.get("v") != _FORMAT:
        raise ValueError("not an rtguard bus message (version)")
    key, account, events = data.get("key"), data.get("account_id"), data.get("events")
    if not isinstance(key, str) or not isinstance(account, str) or not isinstance(events, list):
        raise ValueError("missing key, account_id or events")
    if not all(isinstance(e, dict) for e in events):
        raise ValueError("events must be objects")
    return BusMessage(key=key, account_id=account, events=tuple(events), delivery=delivery, handle=msg)
