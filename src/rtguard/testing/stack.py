"""Real ``rtguard server`` and ``rtguard agent`` processes for e2e tests and the demo.

Starts each as its own OS process (``python -m rtguard.cli``), waits until it is really
ready (the server's credentials file and ``/healthz``; the agent's "running" line, printed
after its sensor is attached), and stops it with SIGTERM (or SIGKILL when asked). Output goes
to log files in the work directory so a failing test can show it. It must not reach into the
processes' internals: everything goes through the command line, files and HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx


class StackError(RuntimeError):
    """A process did not start; the message carries the tail of its log."""


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Proc:
    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.nice = 0  # added to the process's nice value at start (benchmarks)

    def _spawn(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [
                    *(["nice", "-n", str(self.nice)] if self.nice else []),
                    sys.executable,
                    "-m",
                    "rtguard.cli",
                    *args,
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        code = self.proc.returncode
        self.proc = None
        return code

    def fail(self, what: str) -> StackError:
        self.stop(signal.SIGKILL)
        return StackError(f"{self.name} {what}; log {self.log}:\n{_tail(self.log)}")


class ServerProcess(_Proc):
    """``rtguard server`` on 127.0.0.1:``port`` with ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__("rtguard server", data_dir / "server.log")
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra_args = extra_args
        self.env = env

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Self:
        """Start and wait until ``/healthz`` answers."""
        args = ["server", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)]
        self._spawn([*args, *self.extra_args], env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.fail("exited during start")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise self.fail("did not become ready")

    def credentials(self) -> dict[str, str]:
        """The credentials file's content."""
        data = json.loads((self.data_dir / "credentials.json").read_text())
        return {str(k): str(v) for k, v in data.items()}


class AgentProcess(_Proc):
    """``rtguard agent`` pointed at a server."""

    def __init__(
        self,
        server_url: str,
        token: str,
        workdir: Path,
        *,
        sensor: str = "ebpf",
        ecs_agent_uri: str = "",
        heartbeat_interval: float = 2.0,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__("rtguard agent", workdir / "agent.log")
        self.server_url = server_url
        self.token = token
        self.spool_dir = workdir / "spool"
        self.sensor = sensor
        self.ecs_agent_uri = ecs_agent_uri
        self.heartbeat_interval = heartbeat_interval
        self.env = env or {}

    def start(self, timeout: float = 60.0) -> Self:
        """Start and wait for the "running" line (sensor attached, snapshot loaded)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        self._spawn(
            [
                "agent", "--server", self.server_url, "--token", self.token, "--sensor", self.sensor,
                "--spool-dir", str(self.spool_dir), "--ecs-agent-uri", self.ecs_agent_uri,
                "--heartbeat-interval", str(self.heartbeat_interval),
            ],
            env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.fail("exited during start")
            with open(self.log, "rb") as fh:
                fh.seek(offset)
                if b"rtguard agent running" in fh.read():
                    return self
            time.sleep(0.1)
        raise self.fail("did not become ready")
