"""A throwaway real PostgreSQL server for tests: ``initdb`` into a fresh temporary directory, run
``postgres`` on 127.0.0.1 and a free port (and a unix socket in the same directory), hand out
fresh databases, and stop the server and delete the directory when done.

Runs the server binaries as the ``postgres`` user when started as root (PostgreSQL refuses to run
as root). Test helper only: it never touches a system cluster, binds loopback only, and must not be
imported by server or agent code. A server that cannot start raises: tests that need it fail.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import pytest

__all__ = [
    "STORE_BACKENDS",
    "PostgresError",
    "PostgresServer",
    "find_bin_dir",
    "running_postgres",
    "store_url",
]

DEFAULT_BIN_DIRS: Final = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
_START_TIMEOUT_S: Final = 30.0
STORE_BACKENDS: Final = ("sqlite", "postgresql")  # what store tests are parametrized over


class PostgresError(RuntimeError):
    """The test PostgreSQL server could not be started or used."""


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``postgres`` (``RTGUARD_PG_BIN`` overrides).

    Raises:
        PostgresError: no PostgreSQL server binaries are installed.
    """
    candidates = [os.environ.get("RTGUARD_PG_BIN", ""), *DEFAULT_BIN_DIRS]
    for cand in candidates:
        if cand and (Path(cand) / "initdb").is_file() and (Path(cand) / "postgres").is_file():
            return Path(cand)
    raise PostgresError(
        "PostgreSQL server binaries not found (looked in "
        f"{', '.join(c for c in candidates if c)}): apt-get install -y postgresql, or set RTGUARD_PG_BIN"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One running PostgreSQL server. Use :func:`running_postgres` to get one that is stopped for you.

    Args:
        bin_dir: where ``initdb`` and ``postgres`` are (default: :func:`find_bin_dir`).
        fsync: keep fsync on (off by default: a test server does not outlive a power cut, and it
            makes each commit far cheaper on a shared machine).
    """

    def __init__(self, bin_dir: Path | None = None, *, fsync: bool = False) -> None:
        self._bin = bin_dir or find_bin_dir()
        self._fsync = fsync
        self._dir = Path(tempfile.mkdtemp(prefix="rtguard-pg-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.user = "postgres"
        self._run_as: str | None = None
        if os.geteuid() == 0:
            self._run_as = "postgres"
            try:
                pw = pwd.getpwnam(self._run_as)
            except KeyError as exc:
                self._cleanup()
                raise PostgresError(
                    "running as root needs a 'postgres' user (apt-get install postgresql)"
                ) from exc
            os.chown(self._dir, pw.pw_uid, pw.pw_gid)
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (inside the temporary directory)."""
        return self._dir / "data"

    @property
    def socket_dir(self) -> Path:
        """Where the server's unix socket is."""
        return self._dir

    def start(self) -> None:
        """Create the cluster and start the server; returns once it accepts connections.

        Raises:
            PostgresError: initdb failed or the server did not come up (its log is in the message).
        """
        init = subprocess.run(
            [
                str(self._bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=self._run_as,
            capture_output=True,
            check=False,
            timeout=120,
        )
        if init.returncode != 0:
            raise PostgresError(f"initdb failed: {init.stderr.decode(errors='replace')[-2000:]}")
        for _attempt in range(3):
            self.port = _free_port()
            if self._launch():
                return
        raise PostgresError(f"postgres did not start: {self._log_tail()}")

    def _launch(self) -> bool:
        log = (self._dir / "postgres.log").open("ab")
        args = [str(self._bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1",
                "-c", "max_connections=200", "-c", "shared_buffers=32MB"]  # fmt: skip
        if not self._fsync:
            args += ["-F", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self._proc = subprocess.Popen(
            args, user=self._run_as, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False  # most likely the port was taken meanwhile: try another
            if self._accepts():
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _log_tail(self) -> str:
        try:
            return (self._dir / "postgres.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def dsn(self, database: str) -> str:
        """A libpq connection string for ``database`` on this server."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL (psycopg 3 driver) for ``database`` on this server."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database; returns its name (a fresh unique one unless given)."""
        import psycopg

        dbname = name or f"t_{uuid.uuid4().hex[:16]}"
        if not dbname.replace("_", "").isalnum():
            raise ValueError(f"database names here are letters, digits and _: {dbname!r}")
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE template0')  # the name is checked above
        return dbname

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL after 10 s). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # "fast" shutdown: roll back, disconnect, checkpoint
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def _cleanup(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        self._cleanup()


@contextlib.contextmanager
def running_postgres(bin_dir: Path | None = None, *, fsync: bool = False) -> Iterator[PostgresServer]:
    """A started :class:`PostgresServer`, stopped and deleted when the context exits."""
    server = PostgresServer(bin_dir, fsync=fsync)
    try:
        server.start()
        yield server
    finally:
        server.close()


def store_url(request: pytest.FixtureRequest, backend: str, sqlite_path: Path) -> str:
    """A store URL for ``backend`` inside a pytest fixture: a SQLite file at ``sqlite_path``, or a
    fresh database on the session's ``postgres_server`` fixture, dropped when the requesting
    fixture's scope ends."""
    if backend == "sqlite":
        return f"sqlite:///{sqlite_path}"
    if backend != "postgresql":
        raise ValueError(f"unknown store backend {backend!r}")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    request.addfinalizer(lambda: server.drop_database(name))
    return server.url(name)
