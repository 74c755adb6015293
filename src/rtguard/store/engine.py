"""What differs between the SQL backends, in one place: building the SQLAlchemy engine for a store
URL (SQLite: WAL, busy timeout, ``BEGIN IMMEDIATE`` for writes, foreign keys, ``synchronous=FULL``;
PostgreSQL through psycopg 3: pre-ping, READ COMMITTED with row locks and advisory locks where
the store needs more), and the transaction-scoped locks that serialise what must be serial.

Every statement the store runs is portable SQLAlchemy Core; this module must not hold store logic
and must not know any table.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

__all__ = [
    "APPEND_LOCK",
    "MEMBER_LOCK",
    "MIGRATE_LOCK",
    "StoreEngine",
    "build_engine",
    "normalise_url",
    "xact_lock",
]

_BUSY_TIMEOUT_MS: Final = 10_000
# Advisory lock keys (PostgreSQL): any fixed 64-bit numbers no other application on the database uses.
MIGRATE_LOCK: Final = 0x7274_6775_0001  # "rtgu" 1: one process migrates at a time
APPEND_LOCK: Final = 0x7274_6775_0002  # "rtgu" 2: event-log appends commit in id order
MEMBER_LOCK: Final = 0x7274_6775_0003  # "rtgu" 3: one associated administrator per member account
_SUPPORTED: Final = ("sqlite", "postgresql")


class StoreEngine:
    """A configured engine, whether it is SQLite, and the lock in-memory SQLite needs."""

    def __init__(self, engine: Engine, *, sqlite: bool, lock: contextlib.AbstractContextManager[Any]) -> None:
        self.engine = engine
        self.sqlite = sqlite
        self.lock = lock


def normalise_url(url: str) -> URL:
    """Parse a store URL; ``postgresql://`` and ``postgres://`` mean the psycopg 3 driver.

    Raises:
        ValueError: the URL is not a SQLAlchemy URL or names a backend rtguard does not support.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError; the message is what matters
        # The URL itself is not repeated: it may hold a password.
        raise ValueError(
            f"not a database URL ({exc}); expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in _SUPPORTED:
        raise ValueError(
            f"unsupported store {backend!r}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    if parsed.drivername == "postgresql":  # SQLAlchemy's default driver is psycopg2; ours is psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def build_engine(url: str) -> StoreEngine:
    """The engine for ``url``, configured for the store's transaction discipline."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if memory:
            engine = create_engine(parsed, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            engine = create_engine(parsed)
        _configure_sqlite(engine, wal=not memory)
        lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if memory else contextlib.nullcontext()
        )
        return StoreEngine(engine, sqlite=True, lock=lock)
    engine = create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
    return StoreEngine(engine, sqlite=False, lock=contextlib.nullcontext())


def xact_lock(conn: Connection, key: int) -> None:
    """Hold ``key`` until the transaction ends (PostgreSQL advisory lock; a no-op on SQLite, where
    a write transaction already excludes every other writer)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below (pysqlite's own is broken).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged batch survives power loss
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock at BEGIN so the busy timeout applies; upgrading a read transaction
        # to a write one later fails at once under WAL instead of waiting.
        mode = conn.get_execution_options().get("rtguard_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
