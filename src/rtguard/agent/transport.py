"""The agent's HTTP client: HTTP/1.1 over the standard library's ``http.client``.

One keep-alive connection per client, a timeout on every request, no redirects, no proxies
from the environment, and a lock so that the exporter's threads and the heartbeat can share it.
It exists because the agent runs on every node and in every task: httpx costs the agent about
20 MB of RSS at import (with its CLI's dependencies), ``http.client`` about 8 MB. A
``transport`` callable replaces the network in tests. It must not know what it carries.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

MAX_RESPONSE: Final = 4 * 1024 * 1024


class TransportError(Exception):
    """The request did not get an answer; ``reason`` is ``timeout``, ``connect`` or ``protocol``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Response:
    """Status and body (bodies over ``MAX_RESPONSE`` are cut and flagged)."""

    status: int
    body: bytes
    truncated: bool = False

    def json(self) -> object:
        """The body parsed as JSON (raises ``ValueError`` when it is not)."""
        return json.loads(self.body)


Transport = Callable[[str, str, bytes | None, Mapping[str, str]], Response]


class HttpClient:
    """Requests to one base URL. Thread-safe (requests are serialised).

    Args:
        base_url: ``http://host:port`` or ``https://…`` (a path prefix is kept).
        timeout: seconds for connecting and for each read.
        headers: sent with every request.
        transport: replaces the network (tests): ``(method, url, body, headers) -> Response``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        transport: Transport | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._transport = transport
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Response:
        """Send one request; raise ``TransportError`` when no answer came."""
        merged = {**self._headers, **(headers or {})}
        if self._transport is not None:
            return self._transport(method, self.base_url + path, body, merged)
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    conn.request(method, self._prefix + path, body=body, headers=merged)
                    resp = conn.getresponse()
                    data = resp.read(MAX_RESPONSE + 1)
                    if len(data) > MAX_RESPONSE or resp.getheader("connection", "").lower() == "close":
                        self._reset()
                    return Response(resp.status, data[:MAX_RESPONSE], len(data) > MAX_RESPONSE)
                except TimeoutError as exc:
                    self._reset()
                    raise TransportError("timeout", f"{method} {self.base_url}{path}: timed out") from exc
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    # A kept-alive connection the server closed meanwhile: retry once on a new one.
                    self._reset()
                    if attempt == 2:
                        raise TransportError("connect", f"{method} {self.base_url}{path}: {exc}") from exc
                except (OSError, http.client.HTTPException) as exc:
                    self._reset()
                    reason = "protocol" if isinstance(exc, http.client.HTTPException) else "connect"
                    raise TransportError(reason, f"{method} {self.base_url}{path}: {exc}") from exc
        raise TransportError("connect", f"{method} {self.base_url}{path}: no answer")

    def get(self, path: str) -> Response:
        """GET ``path``."""
        return self.request("GET", path)

    def post_json(self, path: str, payload: object) -> Response:
        """POST ``payload`` as JSON."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return self.request("POST", path, body, {"content-type": "application/json"})

    def _reset(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._reset()
