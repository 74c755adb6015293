"""A throwaway real NATS server with JetStream for tests: ``nats-server -js -sd <tmp> -a 127.0.0.1
-p <free port>``, restartable on the same port and store directory (to show what survives a
broker restart), stopped and deleted when done.

Test helper only: binds loopback, never touches a system nats-server, and must not be imported by
server or agent code. A server that cannot start raises: tests that need it fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = ["NatsServer", "NatsServerError", "find_nats_server", "running_nats"]

_START_TIMEOUT_S: Final = 20.0


class NatsServerError(RuntimeError):
    """The test NATS server could not be started."""


def find_nats_server() -> str:
    """The ``nats-server`` binary (``RTGUARD_NATS_SERVER`` overrides).

    Raises:
        NatsServerError: it is not installed.
    """
    configured = os.environ.get("RTGUARD_NATS_SERVER", "")
    found = configured or shutil.which("nats-server") or ""
    if not found or not Path(found).is_file():
        raise NatsServerError(
            "nats-server not found: apt-get install -y nats-server, or set RTGUARD_NATS_SERVER"
        )
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """One nats-server with JetStream on 127.0.0.1; :meth:`start` it, :meth:`close` it."""

    def __init__(self, binary: str | None = None) -> None:
        self._binary = binary or find_nats_server()
        self._dir = Path(tempfile.mkdtemp(prefix="rtguard-nats-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT``."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def store_dir(self) -> Path:
        """JetStream's file store."""
        return self._dir / "jetstream"

    def start(self) -> None:
        """Start (first call: on a free port; later calls: the same port and store).

        Raises:
            NatsServerError: the server did not start (its log is in the message).
        """
        for _attempt in range(3):
            if not self.port:
                self.port = _free_port()
            if self._launch():
                return
            self.port = 0 if not self.store_dir.exists() else self.port
        raise NatsServerError(f"nats-server did not start: {self._log_tail()}")

    def _launch(self) -> bool:
        log = (self._dir / "nats.log").open("ab")
        args = [self._binary, "-js", "-sd", str(self.store_dir), "-a", "127.0.0.1", "-p", str(self.port),
                "--no_advertise"]  # fmt: skip
        self._proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if self._ready():
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(4).startswith(b"INFO")
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            return (self._dir / "nats.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (``SIGKILL`` to crash it). The store directory is kept. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


@contextlib.contextmanager
def running_nats(binary: str | None = None) -> Iterator[NatsServer]:
    """A started :class:`NatsServer`, stopped and deleted when the context exits."""
    server = NatsServer(binary)
    try:
        server.start()
        yield server
    finally:
        server.close()
