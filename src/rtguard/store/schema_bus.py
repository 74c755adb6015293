"""The table that makes findings from a redelivered bus message count once (SQLAlchemy Core) and
the migration step that creates it: the key of every bus message whose findings were applied,
written in the same transaction as those findings.

Own ``MetaData`` so this module does not depend on ``schema`` (which lists
:func:`create_bus_tables` among its migrations). Must not open connections or run queries.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, String, Table

__all__ = ["applied_messages", "bus_metadata", "create_bus_tables"]

bus_metadata = MetaData()

applied_messages = Table(
    "applied_messages",
    bus_metadata,
    Column("message_key", String(300), primary_key=True),  # agent/seq/partition/chunk
    Column("applied_at", String(32), nullable=False),
)


def create_bus_tables(conn: Connection) -> None:
    """Migration step: create the applied-messages table (idempotent)."""
    bus_metadata.create_all(conn, checkfirst=True)
