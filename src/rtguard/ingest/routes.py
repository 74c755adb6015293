"""``POST /agent/v1/batches`` and ``POST /agent/v1/heartbeat``.

A batch is acked (200) only after the store committed it and the bus holds it (a bus that cannot
take it gives 503, and the agent retries); a repeated (agent id, seq) is acked as a duplicate
without storing anything twice. Bad input of any kind (no or wrong token,
oversized or malformed gzip, invalid JSON, a batch the codec rejects) gets a clear 4xx error
with a JSON ``message`` and stores nothing. This module must not run detection: it rings the
bus and returns.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Protocol

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rtguard.bus.base import Bus, BusError
from rtguard.model.codec import READ_VERSIONS, CodecError, JsonDict, decode_batch, event_lines, loads

AGENT_CONFIG_VERSION: Final = 1
_log = logging.getLogger(__name__)
# Called with (account id, heartbeat) on a worker thread; returns additions to the answer
# (coverage: ``enabled`` and ``reason``). Its failure never fails the heartbeat.
HeartbeatHook = Callable[[str, JsonDict], dict[str, Any]]


class IngestStore(Protocol):
    """The part of the store ingest needs."""

    def lookup_agent_token(self, token: str) -> str | None: ...

    def record_batch(self, account_id: str, agent_id: str, seq: int, events: list[str]) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestLimits:
    """Size limits on what an agent may send."""

    max_body: int = 16 * 1024 * 1024
    max_decompressed: int = 64 * 1024 * 1024


class AgentRegistry:
    """Last heartbeat per agent, in memory (coverage builds on it). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, JsonDict] = {}
        self.counters: Counter[str] = Counter()

    def update(self, account_id: str, beat: JsonDict) -> None:
        """Record a heartbeat."""
        agent_id = str(beat.get("agent_id", ""))
        with self._lock:
            self._agents[agent_id] = {**beat, "account_id": account_id, "received_at": time.time()}

    def snapshot(self) -> dict[str, JsonDict]:
        """Every agent's last heartbeat."""
        with self._lock:
            return dict(self._agents)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"__type": code, "message": message}, status_code=status)


def _decompress(body: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(wbits=47)  # gzip or zlib header
    out = d.decompress(body, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise ValueError(f"decompressed body larger than {limit} bytes")
    if not d.eof:
        raise ValueError("truncated gzip body")
    return out


def build_ingest_router(
    store: IngestStore,
    bus: Bus,
    registry: AgentRegistry,
    limits: IngestLimits | None = None,
    heartbeat_hook: HeartbeatHook | None = None,
) -> APIRouter:
    """Return the agent router; mount it on the server app."""
    lim = limits or IngestLimits()
    router = APIRouter(prefix="/agent/v1")

    def _account(authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        return store.lookup_agent_token(authorization[7:].strip())

    async def _body(request: Request) -> bytes | JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > lim.max_body):
            return _error(413, "PayloadTooLarge", f"body larger than {lim.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > lim.max_body:
                return _error(413, "PayloadTooLarge", f"body larger than {lim.max_body} bytes")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if request.headers.get("content-encoding", "").lower() == "gzip":
            try:
                return _decompress(raw, lim.max_decompressed)
            except (ValueError, zlib.error) as exc:
                return _error(400, "BadRequest", f"bad gzip body: {exc}")
        return raw

    @router.post("/batches")
    async def post_batch(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        account = await run_in_threadpool(_account, authorization)
        if account is None:
            registry.counters["auth_failed"] += 1
            return _error(401, "Unauthorized", "missing or unknown agent token")
        body = await _body(request)
        if isinstance(body, JSONResponse):
            registry.counters["rejected_size"] += 1
            return body
        # Decoding is CPU work and the store write waits for the disk: both off the event loop.
        return await run_in_threadpool(_ingest, account, body)

    def _ingest(account: str, body: bytes) -> JSONResponse:
        try:
            raw = loads(body)
            batch = decode_batch(raw)
        except (ValueError, RecursionError) as exc:
            registry.counters["rejected_invalid"] += 1
            msg = str(exc) if isinstance(exc, CodecError) else f"invalid JSON: {str(exc)[:200]}"
            return _error(400, "InvalidBatch", msg)
        # The validated wire dicts are stored (the codec accepted every field), one event a
        # line with its objects inline, whichever wire version the agent sent.
        lines = event_lines(raw)  # type: ignore[arg-type]  # decode_batch checked it is a batch
        new = store.record_batch(account, batch.agent_id, batch.seq, lines)
        if new:
            registry.counters["events_received"] += len(lines)
        else:
            registry.counters["batches_duplicate"] += 1
        try:
            bus.batch_stored(account, batch.agent_id, batch.seq, lines, batch.events, new=new)
        except BusError as exc:
            # Stored, but not yet handed to detection: no ack, so the agent retries (the retry is
            # recognised as a duplicate by the store and published again).
            registry.counters["bus_unavailable"] += 1
            _log.warning("batch %s/%d stored but not published: %s", batch.agent_id, batch.seq, exc)
            return _error(503, "ServiceUnavailable", f"event bus unavailable, retry later: {exc}")
        return JSONResponse({"accepted": len(lines), "duplicate": not new, "seq": batch.seq})

    @router.post("/heartbeat")
    async def post_heartbeat(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        account = _account(authorization)
        if account is None:
            return _error(401, "Unauthorized", "missing or unknown agent token")
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            beat = json.loads(body)
        except (ValueError, RecursionError):
            return _error(400, "BadRequest", "heartbeat is not JSON")
        if not isinstance(beat, dict) or not isinstance(beat.get("agent_id"), str):
            return _error(400, "BadRequest", "heartbeat needs a string agent_id")
        registry.update(account, beat)
        answer: dict[str, Any] = {
            "config_version": AGENT_CONFIG_VERSION,
            "enabled": True,
            "wire_versions": sorted(READ_VERSIONS),  # the agent writes the newest both read
        }
        if heartbeat_hook is not None:
            try:
                answer.update(await run_in_threadpool(heartbeat_hook, account, beat))
            except Exception:
                registry.counters["heartbeat_hook_errors"] += 1
                _log.exception("heartbeat hook failed")
        return JSONResponse(answer)

    return router
