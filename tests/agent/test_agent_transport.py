"""The agent's HTTP client against a real local server: keep-alive, reconnects, timeouts, errors."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from rtguard.agent.transport import MAX_RESPONSE, HttpClient, TransportError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, bytes, str]]] = []

    def _answer(self, code: int, body: bytes, close: bool = False) -> None:
        self.send_response(code)
        self.send_header("content-length", str(len(body)))
        if close:
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, b"", self.headers.get("x-token", "")))
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/big":
            self._answer(200, b"x" * (MAX_RESPONSE + 10))
            return
        self._answer(200, json.dumps({"path": self.path}).encode(), close=self.path == "/close")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.seen.append(("POST", self.path, body, self.headers.get("x-token", "")))
        self._answer(201, body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_requests_headers_prefix_and_reconnect(server: str) -> None:
    client = HttpClient(server + "/v4/abc", headers={"x-token": "t"})
    assert client.get("/task").json() == {"path": "/v4/abc/task"}
    assert client.post_json("/x", {"a": 1}).body == b'{"a":1}'
    assert client.get("/close").status == 200  # the server closes: the next request reconnects
    assert client.get("/again").json() == {"path": "/v4/abc/again"}
    assert [s[3] for s in _Handler.seen] == ["t"] * 4
    client.close()


def test_timeout_refused_and_oversized(server: str) -> None:
    with pytest.raises(TransportError) as slow:
        HttpClient(server, timeout=0.2).get("/slow")
    assert slow.value.reason == "timeout"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError) as refused:
        HttpClient(f"http://127.0.0.1:{port}").get("/")
    assert refused.value.reason == "connect"
    big = HttpClient(server).get("/big")
    assert big.truncated and len(big.body) == MAX_RESPONSE
    with pytest.raises(ValueError, match="http"):
        HttpClient("ftp://x")
