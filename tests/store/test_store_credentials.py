"""Accounts, access keys, agent tokens, detectors and the schema version of SqlStore."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text

from rtguard.store import SqlStore, UnknownAccountError
from rtguard.store.schema import SCHEMA_VERSION

ACCOUNT = "111122223333"
REGION = "eu-west-1"


@contextmanager
def raw(db_url: str) -> Iterator[Connection]:
    """A plain connection to the store's database (SQLite or PostgreSQL), committed on exit."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def rows(conn: Connection, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(text(sql), params)]


def test_account_creation_is_idempotent_and_validated(store: SqlStore) -> None:
    store.create_account(ACCOUNT, REGION)  # again: no-op
    assert store.get_account_region(ACCOUNT) == REGION
    assert store.get_account_region("999999999999") is None
    with pytest.raises(ValueError, match="12 digits"):
        store.create_account("12345", REGION)
    with pytest.raises(ValueError, match="exists in region"):
        store.create_account(ACCOUNT, "us-east-1")


def test_access_keys_look_like_aws_and_resolve_to_their_account(store: SqlStore) -> None:
    key_id, secret = store.create_access_key(ACCOUNT)
    other_id, _ = store.create_access_key(ACCOUNT)
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", key_id)
    assert len(secret) == 40
    assert other_id != key_id
    assert store.lookup_secret(key_id) == (ACCOUNT, secret)
    assert store.lookup_secret("AKIA0000000000000000") is None
    with pytest.raises(UnknownAccountError):
        store.create_access_key("999999999999")


def test_agent_tokens_resolve_and_are_not_stored_in_clear(store: SqlStore, db_url: str) -> None:
    token = store.create_agent_token(ACCOUNT)
    assert store.lookup_agent_token(token) == ACCOUNT
    assert store.lookup_agent_token(token + "x") is None
    with pytest.raises(UnknownAccountError):
        store.create_agent_token("999999999999")
    with raw(db_url) as conn:
        stored = rows(conn, "SELECT * FROM agent_tokens")
    assert stored and all(token not in str(row) for row in stored)


def test_detector_has_guardduty_shape_and_is_private_to_its_account(store: SqlStore) -> None:
    detector_id = store.create_detector(ACCOUNT, tags={"team": "sec"})
    assert re.fullmatch(r"[0-9a-f]{32}", detector_id)
    assert store.list_detectors(ACCOUNT) == [detector_id]
    detector = store.get_detector(ACCOUNT, detector_id)
    assert detector is not None
    assert detector["status"] == "ENABLED"
    assert detector["findingPublishingFrequency"] == "SIX_HOURS"
    assert detector["tags"] == {"team": "sec"}
    assert detector["createdAt"].endswith("Z")
    (runtime,) = detector["features"]
    assert runtime["name"] == "RUNTIME_MONITORING" and runtime["status"] == "ENABLED"
    names = {c["name"] for c in runtime["additionalConfiguration"]}
    assert names == {"ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT", "EKS_ADDON_MANAGEMENT"}
    store.create_account("444455556666", REGION)
    assert store.get_detector("444455556666", detector_id) is None
    assert store.list_detectors("444455556666") == []
    assert store.get_detector(ACCOUNT, "0" * 32) is None


def test_reopen_keeps_data_and_schema_version(db_url: str) -> None:
    first = SqlStore(db_url)
    first.create_account(ACCOUNT, REGION)
    key_id, secret = first.create_access_key(ACCOUNT)
    first.close()
    again = SqlStore(db_url)
    assert again.lookup_secret(key_id) == (ACCOUNT, secret)
    again.close()
    with raw(db_url) as conn:
        assert rows(conn, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        if db_url.startswith("sqlite"):
            assert rows(conn, "PRAGMA journal_mode") == [("wal",)]


def test_newer_schema_is_refused(db_url: str) -> None:
    SqlStore(db_url).close()
    with raw(db_url) as conn:
        conn.execute(text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    with pytest.raises(RuntimeError, match="newer than this rtguard"):
        SqlStore(db_url)


def test_in_memory_store_works() -> None:
    mem = SqlStore("sqlite://")
    mem.create_account(ACCOUNT, REGION)
    assert mem.record_batch(ACCOUNT, "a", 1, ["{}"])
    assert mem.count_events() == 1
    mem.close()
