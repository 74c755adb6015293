"""The scale-out deployment as real processes for tests: one ``rtguard server`` per role
(``api``, ``ingest``, ``detect``), each its own OS process with its own data directory, sharing a
PostgreSQL database and a NATS JetStream server the caller started.

The API process starts first (it writes ``credentials.json``); every process is started and
stopped through :class:`~rtguard.testing.stack.ServerProcess` (SIGTERM, or SIGKILL to crash
one). Test helper only: it must not reach into the processes; everything goes through the
command line, files and HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from rtguard.testing.agentbatch import code_env
from rtguard.testing.stack import ServerProcess

__all__ = ["ScaleOut", "scale_out"]


class ScaleOut:
    """The three role processes of one deployment."""

    def __init__(self, workdir: Path, store_url: str, bus_url: str, extra_args: tuple[str, ...] = ()) -> None:
        self.store_url = store_url
        self.bus_url = bus_url
        self.extra_args = extra_args
        self.processes = {role: self._process(workdir / role, role) for role in ("api", "ingest", "detect")}

    def _process(self, data_dir: Path, role: str) -> ServerProcess:
        args = ("--role", role, "--store", self.store_url, "--bus", self.bus_url, *self.extra_args)
        return ServerProcess(data_dir, extra_args=args, env=code_env())

    @property
    def api(self) -> ServerProcess:
        """The GuardDuty API process (and its credentials file)."""
        return self.processes["api"]

    @property
    def ingest(self) -> ServerProcess:
        """The agent-facing ingest process."""
        return self.processes["ingest"]

    @property
    def detect(self) -> ServerProcess:
        """The detection process."""
        return self.processes["detect"]

    def start(self) -> None:
        """Start every role, the API first (it creates the credentials)."""
        for role in ("api", "ingest", "detect"):
            self.processes[role].start()

    def stop(self) -> None:
        """Stop every role (SIGTERM; SIGKILL after 20 s)."""
        for proc in self.processes.values():
            proc.stop()


@contextlib.contextmanager
def scale_out(
    workdir: Path, store_url: str, bus_url: str, extra_args: tuple[str, ...] = ()
) -> Iterator[ScaleOut]:
    """A started :class:`ScaleOut` (``extra_args`` go to every role), stopped when the context exits."""
    stack = ScaleOut(workdir, store_url, bus_url, extra_args)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
