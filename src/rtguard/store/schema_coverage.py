"""The coverage tables (SQLAlchemy Core) and the migration step that creates them: agents with
their last heartbeat, what the ECS controller reported of clusters and instances, and the last
coverage state of each resource (for ``updatedAt`` and Healthy/Unhealthy transitions).

The tables have their own ``MetaData`` so this module does not depend on ``schema`` (which lists
:func:`create_coverage_tables` among its migrations). Must not open connections or run queries.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Connection, MetaData, String, Table, Text

__all__ = ["agents", "coverage_metadata", "coverage_state", "create_coverage_tables", "inventory"]

coverage_metadata = MetaData()

agents = Table(
    "agents",
    coverage_metadata,
    Column("agent_id", String(128), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("enabled", Boolean, nullable=False),  # what the last heartbeat answer said
    Column("beat_json", Text, nullable=False),
)

inventory = Table(
    "coverage_inventory",
    coverage_metadata,
    Column("account_id", String(12), primary_key=True),
    Column("resource_key", String(512), primary_key=True),  # cluster ARN or EC2 instance id
    Column("kind", String(16), nullable=False),  # "cluster" | "instance"
    Column("reported_ms", BigInteger, nullable=False),
    Column("doc_json", Text, nullable=False),
)

coverage_state = Table(
    "coverage_state",
    coverage_metadata,
    Column("detector_id", String(64), primary_key=True),
    Column("resource_id", String(512), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("status", String(16), nullable=False),
    Column("issue", Text, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("doc_json", Text, nullable=False),
)


def create_coverage_tables(conn: Connection) -> None:
    """Migration step: create the coverage tables (idempotent)."""
    coverage_metadata.create_all(conn, checkfirst=True)
