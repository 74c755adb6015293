"""The relational schema of the SQL stores (SQLAlchemy Core tables) and its ordered migrations,
tracked in a ``schema_version`` table.

Tables use only portable types so the same definitions serve SQLite and PostgreSQL. Migration N
brings a database from version N-1 to N and is never edited once released: later changes are new
migrations. Must not open connections or run queries by itself; the store calls :func:`migrate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from rtguard.store.engine import MIGRATE_LOCK, xact_lock
from rtguard.store.query import Scope, scope_ids
from rtguard.store.schema_bus import create_bus_tables
from rtguard.store.schema_coverage import create_coverage_tables
from rtguard.store.schema_org import create_org_tables
from rtguard.store.schema_usage import create_usage_tables

__all__ = ["SCHEMA_VERSION", "in_scope", "metadata", "migrate"]

metadata = MetaData()

# BigInteger on PostgreSQL; INTEGER PRIMARY KEY (the rowid alias) on SQLite.
_Id = BigInteger().with_variant(Integer(), "sqlite")

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    # SigV4 verification needs the secret itself (HMAC key), so it cannot be stored hashed.
    Column("secret", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
)

agent_tokens = Table(
    "agent_tokens",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("created_at", String(32), nullable=False),
)

detectors = Table(
    "detectors",
    metadata,
    Column("detector_id", String(64), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False, index=True),
    # Creation order within the account (timestamps tie within a millisecond).
    Column("ordinal", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("publishing_frequency", String(32), nullable=False),
    Column("features_json", Text, nullable=False),
    Column("tags_json", Text, nullable=False),
)

batches = Table(
    "batches",
    metadata,
    Column("agent_id", String(128), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("received_at", String(32), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("agent_id", String(128), nullable=False, index=True),
    Column("seq", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    sqlite_autoincrement=True,  # ids are never reused, even after the newest rows are deleted
)

cursors = Table(
    "cursors",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("detector_id", String(64), primary_key=True),
    Column("finding_id", String(300), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=True),
    Column("type", String(128), nullable=True),
    Column("severity", Float, nullable=True),
    Column("created_ms", BigInteger, nullable=True),
    Column("updated_ms", BigInteger, nullable=True),
    Column("archived", Boolean, nullable=False),
    Column("resource_type", String(64), nullable=True),
    Column("cluster_name", String(255), nullable=True),
    Column("instance_id", String(64), nullable=True),
    Column("container_image", String(512), nullable=True),
    Column("doc", Text, nullable=False),
    Index("ix_findings_detector_type", "detector_id", "type"),
    Index("ix_findings_detector_updated", "detector_id", "updated_ms"),
    Index("ix_findings_detector_created", "detector_id", "created_ms"),
    Index("ix_findings_detector_severity", "detector_id", "severity"),
    Index("ix_findings_detector_cluster", "detector_id", "cluster_name"),
)

_V1_TABLES: Final = (accounts, access_keys, agent_tokens, detectors, batches, events, cursors, findings)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(_V1_TABLES))


# -- v3: findings lifecycle (filters, IPSets/ThreatIntelSets, publishing destinations) --------------

finding_filters = Table(
    "finding_filters",
    metadata,
    Column("detector_id", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("description", Text, nullable=False),
    Column("action", String(16), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("criteria_json", Text, nullable=False),
    Column("tags_json", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

intel_sets = Table(
    "intel_sets",
    metadata,
    Column("set_id", String(64), primary_key=True),
    Column("detector_id", String(64), nullable=False, index=True),
    Column("account_id", String(12), nullable=False),
    Column("kind", String(16), nullable=False),  # IP_SET (trusted) or THREAT_INTEL_SET
    Column("name", String(300), nullable=False),
    Column("format", String(32), nullable=False),
    Column("location", String(300), nullable=False),
    Column("status", String(32), nullable=False),
    Column("error", Text, nullable=False),
    Column("entries_json", Text, nullable=False),
    Column("tags_json", Text, nullable=False),
    Column("expected_owner", String(12), nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

publishing_destinations = Table(
    "publishing_destinations",
    metadata,
    Column("destination_id", String(64), primary_key=True),
    Column("detector_id", String(64), nullable=False, index=True),
    Column("account_id", String(12), nullable=False),
    Column("destination_type", String(32), nullable=False),
    Column("properties_json", Text, nullable=False),
    Column("status", String(64), nullable=False),
    Column("failure_start_ms", BigInteger, nullable=False),
    Column("tags_json", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)


def _v3_lifecycle(conn: Connection) -> None:
    metadata.create_all(conn, tables=[finding_filters, intel_sets, publishing_destinations])


MIGRATIONS: Final[tuple[Callable[[Connection], None], ...]] = (
    _v1,
    create_coverage_tables,
    _v3_lifecycle,
    create_org_tables,
    create_usage_tables,
    create_bus_tables,  # v6: applied bus messages (scale-out)
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def in_scope(column: ColumnElement[str], scope: Scope) -> ColumnElement[bool]:
    """``column`` (a detector id column) restricted to the detectors of ``scope``."""
    ids = scope_ids(scope)
    return column == ids[0] if len(ids) == 1 else column.in_(ids)


def migrate(conn: Connection) -> int:
    """Bring the database to :data:`SCHEMA_VERSION` inside the caller's (write) transaction.

    Returns the version found before migrating (0 for a new database).

    Raises:
        RuntimeError: the database is newer than this code (downgrades are not supported).
    """
    xact_lock(conn, MIGRATE_LOCK)  # processes starting together on PostgreSQL migrate one at a time
    schema_version.create(conn, checkfirst=True)
    found = conn.execute(select(schema_version.c.version)).scalar()
    current = int(found) if found is not None else 0
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {current} is newer than this rtguard ({SCHEMA_VERSION}); upgrade rtguard"
        )
    for step in MIGRATIONS[current:]:
        step(conn)
    if found is None:
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
    elif current != SCHEMA_VERSION:
        conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
    return current
