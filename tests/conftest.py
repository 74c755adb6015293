"""Shared fixtures for every test tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rtguard.testing.nats import NatsServer, running_nats
from rtguard.testing.postgres import PostgresServer, running_postgres
from rtguard.testing.privilege import require_root


@pytest.fixture
def root() -> None:
    """Require root (for BPF, runc, network namespaces); fails on CI when missing."""
    require_root()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole run (started on first use); fails when it cannot start."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A fresh real nats-server with JetStream (file store in a temp dir) for one test; fails when it
    cannot start."""
    with running_nats() as server:
        yield server
