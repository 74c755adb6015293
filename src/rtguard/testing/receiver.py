"""A local webhook receiver for tests: an HTTP server on 127.0.0.1 collecting JSON POST bodies.

``status`` holds the HTTP status it answers (tests flip it to make deliveries fail). It must not
listen anywhere but loopback.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """What the receiver got; ``url`` is where to POST."""

    url: str
    received: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    status: list[int] = field(default_factory=lambda: [200])
    headers: list[dict[str, str]] = field(default_factory=list)

    def drain(self, wait: float = 0.0) -> list[dict[str, Any]]:
        """Everything received so far (waiting up to ``wait`` seconds for the first item)."""
        out: list[dict[str, Any]] = []
        try:
            out.append(self.received.get(timeout=wait) if wait else self.received.get_nowait())
            while True:
                out.append(self.received.get_nowait())
        except queue.Empty:
            pass
        return out


@contextlib.contextmanager
def webhook_receiver(path: str = "/hook") -> Iterator[Receiver]:
    """Run a receiver until the block ends."""
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            rec = box[0]
            rec.headers.append({k.lower(): v for k, v in self.headers.items()})
            code = rec.status[0]
            if code == 200:
                rec.received.put(json.loads(body))
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(url=f"http://127.0.0.1:{server.server_address[1]}{path}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
