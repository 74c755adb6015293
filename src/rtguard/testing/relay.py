"""A TCP relay for tests and benchmarks: one listening address forwarded to a loopback port.

A container in its own network namespace cannot reach the host's ``127.0.0.1``; ``TcpRelay``
listens on an address the test created (the host end of a ``NetNamespace`` veth) and forwards
each connection to ``127.0.0.1:<target>`` (the real server, the fake ECS endpoints). Threads
per connection, daemon, closed with the relay. It must only listen on addresses the caller
created and must never be used by production code.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from typing import Self

__all__ = ["TcpRelay"]


class TcpRelay:
    """Forward ``listen_ip:<port>`` (ephemeral, see ``port``) to ``127.0.0.1:target``."""

    def __init__(self, listen_ip: str, target: int) -> None:
        self._sock = socket.create_server((listen_ip, 0))
        self.port = int(self._sock.getsockname()[1])
        self._target = target
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="tcp-relay", daemon=True)
        self._thread.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        with (
            contextlib.suppress(OSError),
            client,
            socket.create_connection(("127.0.0.1", self._target)) as up,
        ):
            pair = {client: up, up: client}
            while not self._closed:
                ready, _, _ = select.select(list(pair), [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)

    def close(self) -> None:
        """Stop accepting; open connections end within a second. Idempotent."""
        self._closed = True
        self._sock.close()
