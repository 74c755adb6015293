"""A stand-in for a server on another machine, for agent-only benchmarks: it takes batches and
heartbeats and answers at once, doing nothing else (no decoding, storage or detection). Its
heartbeat answer offers the wire versions the real server reads, so the agent writes the same.

Run by ``bench/exec_storm.py --sink``: ``python bench/null_server.py PORT STATE_FILE``. Each
heartbeat's ``dropped`` counters and the number of batch bytes received are written to
STATE_FILE as JSON. Not a test double for correctness: the real server is tested elsewhere.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rtguard.model.codec import READ_VERSIONS

_lock = threading.Lock()
_state: dict[str, object] = {"batches": 0, "batch_bytes": 0, "dropped": {}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state_file = Path("/dev/null")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
        answer = b'{"accepted":0}'
        with _lock:
            if self.path.endswith("/batches"):
                _state["batches"] = int(str(_state["batches"])) + 1
                _state["batch_bytes"] = int(str(_state["batch_bytes"])) + len(body)
            elif self.path.endswith("/heartbeat"):
                beat = json.loads(body or b"{}")
                _state["dropped"] = beat.get("dropped", {})
                answer = json.dumps({"enabled": True, "wire_versions": sorted(READ_VERSIONS)}).encode()
            self.state_file.write_text(json.dumps(_state))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        return None


def main() -> None:
    Handler.state_file = Path(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()


if __name__ == "__main__":
    main()
