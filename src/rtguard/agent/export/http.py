"""The HTTP exporter: gzip'd JSON batches to the server, with retry, backoff and a disk spool.

Every batch gets the next sequence number of this agent (persisted in reserved blocks, so it
keeps increasing across restarts) and is sent to ``POST /agent/v1/batches``. The server acks
only what is durable and treats a repeated (agent id, seq) as already stored, so retries are
idempotent. When the server is away, batches go to the spool and a drainer thread sends them,
oldest first, before anything newer: nothing lost, nothing stored twice, order kept. It must
not decide what to send: it ships whatever the batch processor hands it.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from rtguard.agent.export.batch import ExportResult
from rtguard.agent.export.spool import DiskSpool
from rtguard.agent.transport import HttpClient, Transport, TransportError
from rtguard.model.codec import READ_VERSIONS, Batch, JsonDict, encode_batch_json, readable
from rtguard.model.events import Event

_log = logging.getLogger(__name__)
_SEQ_BLOCK: Final = 1024
BATCH_PATH: Final = "/agent/v1/batches"
HEARTBEAT_PATH: Final = "/agent/v1/heartbeat"


class _Rejected(Exception):
    """The server refused the batch for good (4xx other than auth)."""


class AgentIdentity:
    """The agent id and its persisted sequence counter, kept in ``state_dir/agent.json``."""

    def __init__(self, state_dir: Path, agent_id: str | None = None) -> None:
        self._path = state_dir / "agent.json"
        state_dir.mkdir(parents=True, exist_ok=True)
        data: dict[str, object] = {}
        try:
            loaded = json.loads(self._path.read_text())
            if isinstance(loaded, dict):
                data = loaded
        except (OSError, ValueError):
            data = {}
        stored_id = data.get("agent_id")
        self.agent_id = agent_id or (stored_id if isinstance(stored_id, str) else "") or str(uuid.uuid4())
        reserved = data.get("reserved", 0)
        self._next = reserved if isinstance(reserved, int) else 0
        self._reserved = self._next
        self._lock = threading.Lock()

    def next_seq(self) -> int:
        """The next sequence number (reserving a new block on disk when needed)."""
        with self._lock:
            if self._next >= self._reserved:
                self._reserved = self._next + _SEQ_BLOCK
                tmp = self._path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"agent_id": self.agent_id, "reserved": self._reserved}))
                tmp.replace(self._path)
            seq = self._next
            self._next += 1
            return seq

    def bump_past(self, seq: int) -> None:
        """Make sure later numbers are above ``seq`` (batches spooled by an earlier run)."""
        with self._lock:
            self._next = max(self._next, seq + 1)


class HttpExporter:
    """Sends batches; spools when the server is away. ``export`` is called from one thread.

    Args:
        server: base URL, e.g. ``http://127.0.0.1:8080``.
        token: the agent enrollment token (bearer).
        spool: where batches wait while the server is away.
        identity: agent id and sequence numbers.
        timeout: seconds per request.
        max_outbox_bytes: encoded batches held in memory for the sender at most; more go to
            the spool (memory stays bounded when the server is slow).
    """

    def __init__(
        self,
        server: str,
        token: str,
        spool: DiskSpool,
        identity: AgentIdentity,
        *,
        timeout: float = 5.0,
        max_backoff: float = 5.0,
        transport: Transport | None = None,
        max_outbox_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._server = server.rstrip("/")
        self._token = token
        self._spool = spool
        self._identity = identity
        identity.bump_past(spool.max_seq())
        self._client = HttpClient(
            self._server, timeout=timeout, headers={"authorization": f"Bearer {token}"}, transport=transport
        )
        # encoded batches waiting for the sender thread, bounded in bytes (then: the spool)
        self._box: deque[tuple[int, bytes, int]] = deque()
        self._box_bytes = 0
        self._max_box = max_outbox_bytes
        self._box_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._max_backoff = max_backoff
        self.counters: Counter[str] = Counter()
        self.server_up = False
        # The newest wire version both sides read: 1 until a heartbeat answer lists more (a
        # server older than version 2 does not say, and refuses what it cannot read).
        self.wire_version = 1
        self._drainer = threading.Thread(target=self._drain_loop, name="rtguard-spool", daemon=True)
        self._drainer.start()
        if len(spool):
            self._wake.set()

    @property
    def agent_id(self) -> str:
        """This agent's id."""
        return self._identity.agent_id

    def encode(self, events: Sequence[Event]) -> tuple[int, bytes]:
        """Give the batch its sequence number and encode it (gzip'd JSON)."""
        seq = self._identity.next_seq()
        batch = Batch(agent_id=self.agent_id, seq=seq, events=tuple(events), version=self.wire_version)
        return seq, gzip.compress(encode_batch_json(batch), compresslevel=1)

    def export(self, events: Sequence[Event]) -> ExportResult:
        """Encode one batch and hand it to the sender; never waits for the network.

        Event kinds the server cannot read yet (it offered an older wire version) are left out
        and counted (``events_server_too_old``). The batch joins the in-memory outbox (sent in
        order by the sender thread) while the spool is empty and the outbox holds less than
        ``max_outbox_bytes``; otherwise the outbox and the batch go to the disk spool, oldest
        first, so order is kept and memory stays bounded however slow the server is.
        """
        events, too_new = readable(events, self.wire_version)
        if too_new:
            self.counters["events_server_too_old"] += too_new
        if not events:
            return ExportResult.LEFT_OUT
        seq, body = self.encode(events)
        with self._box_lock:
            if len(self._spool) == 0 and self._box_bytes + len(body) <= self._max_box:
                self._box.append((seq, body, len(events)))
                self._box_bytes += len(body)
                self._wake.set()
                return ExportResult.QUEUED
            self._spill_locked()
            ok = self._spool.put(seq, body)
        self._wake.set()
        if ok:
            self.counters["batches_spooled"] += 1
            return ExportResult.SPOOLED
        self.counters["events_spool_full"] += len(events)
        return ExportResult.DROPPED

    def _spill_locked(self) -> None:
        """Move the outbox to the disk spool, oldest first (caller holds ``_box_lock``)."""
        while self._box:
            seq, body, n = self._box.popleft()
            self._box_bytes -= len(body)
            if self._spool.put(seq, body):
                self.counters["batches_spooled"] += 1
            else:
                self.counters["events_spool_full"] += n

    def _send_box_once(self) -> bool:
        """Send the oldest outbox batch; True when it left the outbox."""
        with self._box_lock:
            if not self._box or len(self._spool):
                return False
            seq, body, n = self._box[0]
        try:
            self._post(body)
            self.counters["batches_sent"] += 1
            self.counters["events_sent"] += n
        except _Rejected:
            self.counters["events_rejected"] += n
        except TransportError:
            with self._box_lock:  # the server is away: the spool takes over, with backoff
                self._spill_locked()
            raise
        with self._box_lock:
            if self._box and self._box[0][0] == seq:
                self._box.popleft()
                self._box_bytes -= len(body)
        return True

    def queued_batches(self) -> int:
        """Batches waiting to be sent: in the outbox and in the spool."""
        with self._box_lock:
            return len(self._box) + len(self._spool)

    def _note_down(self, exc: Exception) -> None:
        if self.server_up:
            _log.warning("server unreachable, spooling", extra={"error": str(exc)})
        self.server_up = False
        self.counters["send_errors"] += 1

    def _post(self, body: bytes) -> None:
        resp = self._client.request(
            "POST", BATCH_PATH, body, {"content-type": "application/json", "content-encoding": "gzip"}
        )
        if resp.status == 200:
            self.server_up = True
            return
        text = resp.body[:500].decode("utf-8", "replace")
        if resp.status in (400, 413, 422):
            _log.error("server rejected batch", extra={"status": resp.status, "body": text})
            raise _Rejected(text)
        raise TransportError("protocol", f"server answered {resp.status}: {text}")

    def _drain_once(self) -> bool:
        """Send the oldest spooled batch; True when it left the spool. Sender thread only."""
        item = self._spool.peek()
        if item is None:
            return False
        seq, body = item
        try:
            self._post(body)
            self.counters["batches_sent"] += 1
        except _Rejected:
            self.counters["batches_rejected"] += 1
        self._spool.remove(seq)
        return True

    def _drain_loop(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            self._wake.wait(backoff if len(self._spool) else 1.0)
            self._wake.clear()
            try:
                while not self._stop.is_set():
                    if len(self._spool):
                        self._drain_once()
                    elif not self._send_box_once():
                        break
                backoff = 0.1
            except TransportError as exc:
                self._note_down(exc)
                backoff = min(self._max_backoff, backoff * 2)
            except Exception:
                _log.exception("spool drain failed")
                backoff = min(self._max_backoff, backoff * 2)

    def flush(self, timeout: float) -> bool:
        """Wait until nothing waits to be sent or ``timeout`` passes; True when all left."""
        deadline = threading.Event()
        waited = 0.0
        while self.queued_batches() and waited < timeout:
            self._wake.set()
            deadline.wait(0.05)
            waited += 0.05
        return self.queued_batches() == 0

    def heartbeat(self, payload: JsonDict) -> JsonDict | None:
        """Send a heartbeat; return the server's answer (the agent configuration) or None."""
        try:
            resp = self._client.post_json(HEARTBEAT_PATH, payload)
        except TransportError as exc:
            self._note_down(exc)
            return None
        if resp.status != 200:
            self.counters["heartbeat_errors"] += 1
            return None
        try:
            answer = resp.json()
        except ValueError:
            return None
        if not isinstance(answer, dict):
            return None
        offered = answer.get("wire_versions")
        if isinstance(offered, list):
            common = [v for v in offered if type(v) is int and v in READ_VERSIONS]
            self.wire_version = max(common, default=1)
        return answer

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the sender; what was not sent goes to the disk spool for the next run.

        While the server answers, the sender gets up to ``timeout`` seconds to finish first.
        """
        if self.server_up:
            self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._drainer.join(5)
        with self._box_lock:
            self._spill_locked()
        self._client.close()
