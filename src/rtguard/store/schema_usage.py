"""The usage-metering tables (SQLAlchemy Core) and the migration step that creates them: each
agent's metering cursor (its last heartbeat as metering saw it), each billed resource's
"credited until" watermark (so that two agents reporting one resource never count it twice),
monitored vCPU-seconds per account, feature, resource and hour, and when each account's free
trial of each feature started.

The tables have their own ``MetaData`` so this module does not depend on ``schema`` (which lists
:func:`create_usage_tables` among its migrations). Must not open connections or run queries.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Connection, Float, Index, MetaData, String, Table

__all__ = [
    "create_usage_tables",
    "usage_agents",
    "usage_hours",
    "usage_metadata",
    "usage_resources",
    "usage_trials",
]

usage_metadata = MetaData()

usage_agents = Table(
    "usage_agents",
    usage_metadata,
    Column("agent_id", String(128), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("feature", String(64), nullable=False),
    Column("resource", String(512), nullable=False),
    Column("vcpus", Float, nullable=True),  # None: the heartbeat said nothing meterable
    Column("monitored", Boolean, nullable=False),
    Column("server_ms", BigInteger, nullable=False),  # when the server received it
    Column("agent_ms", BigInteger, nullable=True),  # the agent's own "time" (retry detection)
)

usage_resources = Table(
    "usage_resources",
    usage_metadata,
    Column("account_id", String(12), primary_key=True),
    Column("feature", String(64), primary_key=True),
    Column("resource", String(512), primary_key=True),
    Column("credited_until_ms", BigInteger, nullable=False),
)

usage_hours = Table(
    "usage_hours",
    usage_metadata,
    Column("account_id", String(12), primary_key=True),
    Column("feature", String(64), primary_key=True),
    Column("resource", String(512), primary_key=True),
    Column("hour_ms", BigInteger, primary_key=True),  # start of the UTC hour
    Column("vcpu_seconds", Float, nullable=False),
    Index("ix_usage_hours_account_hour", "account_id", "hour_ms"),
)

usage_trials = Table(
    "usage_trials",
    usage_metadata,
    Column("account_id", String(12), primary_key=True),
    Column("feature", String(64), primary_key=True),
    Column("started_ms", BigInteger, nullable=False),
)


def create_usage_tables(conn: Connection) -> None:
    """Migration step: create the usage tables (idempotent)."""
    usage_metadata.create_all(conn, checkfirst=True)
