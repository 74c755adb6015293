"""Run an ASGI app with uvicorn in a background thread on 127.0.0.1 and an ephemeral port, for
tests that drive the server with real HTTP clients (boto3, the AWS CLI, httpx).

Test helper only: binds loopback, never installs signal handlers, and always stops the server and
joins its thread when the context exits. Production code must not import it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(app: Any, *, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` until the context exits; yields its base URL (``http://127.0.0.1:PORT``).

    Raises:
        RuntimeError: the server did not start within ``startup_timeout`` seconds.
    """
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="rtguard-test-apiserver", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=5)
            raise RuntimeError("the test API server did not start")
        time.sleep(0.01)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
