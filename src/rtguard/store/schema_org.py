"""The multi-account tables (SQLAlchemy Core) and the migration step that creates them: which
accounts belong to the organization (and which one manages it), the organization's delegated
administrator and auto-enable configuration, and the administrator–member relationships GuardDuty
keeps (created, invited, enabled, disabled, removed, resigned).

The tables have their own ``MetaData`` so this module does not depend on ``schema`` (which lists
:func:`create_org_tables` among its migrations). Must not open connections or run queries.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Connection, MetaData, String, Table, Text

__all__ = ["create_org_tables", "members", "org_accounts", "org_config", "org_metadata"]

org_metadata = MetaData()

org_accounts = Table(
    "org_accounts",
    org_metadata,
    Column("account_id", String(12), primary_key=True),  # an account is in one organization at most
    Column("org_id", String(34), nullable=False, index=True),
    Column("management", Boolean, nullable=False),
    Column("joined_ms", BigInteger, nullable=False),
    Column("email", String(64), nullable=False),
)

org_config = Table(
    "org_config",
    org_metadata,
    Column("org_id", String(34), primary_key=True),
    Column("admin_account_id", String(12), nullable=True),
    Column("auto_enable_members", String(8), nullable=False),  # NEW | ALL | NONE
    Column("features_json", Text, nullable=False),  # DescribeOrganizationConfiguration's features
    Column("updated_ms", BigInteger, nullable=False),
)

members = Table(
    "members",
    org_metadata,
    Column("admin_account_id", String(12), primary_key=True),
    Column("account_id", String(12), primary_key=True, index=True),
    Column("email", String(64), nullable=False),
    Column("status", String(32), nullable=False),  # GuardDuty's relationshipStatus
    Column("via_org", Boolean, nullable=False),  # added through the organization, not an invitation
    Column("invitation_id", String(64), nullable=True),
    Column("invited_ms", BigInteger, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
)


def create_org_tables(conn: Connection) -> None:
    """Migration step: create the multi-account tables (idempotent)."""
    org_metadata.create_all(conn, checkfirst=True)
