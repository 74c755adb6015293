"""Multi-account state for ``SqlStore``: organization membership, the organization's delegated
administrator and auto-enable configuration, and administrator–member relationships, as small
frozen records.

This is storage only: which transitions are allowed (who may invite whom, what auto-enable does)
lives in :mod:`rtguard.orgs`. The one rule kept here is the one that needs a transaction: an account
is associated with at most one administrator at a time (:class:`MemberConflictError`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, select

from rtguard.store.engine import MEMBER_LOCK, xact_lock
from rtguard.store.org_types import ASSOCIATED, Member, MemberConflictError, OrgAccount, OrgConfig
from rtguard.store.schema_org import members, org_accounts, org_config

__all__ = ["OrganizationStoreMixin"]


def _member(row: Any) -> Member:
    return Member(
        admin_account_id=row.admin_account_id,
        account_id=row.account_id,
        email=row.email,
        status=row.status,
        via_org=bool(row.via_org),
        invitation_id=row.invitation_id,
        invited_ms=row.invited_ms,
        updated_ms=row.updated_ms,
    )


def _org_account(row: Any) -> OrgAccount:
    return OrgAccount(row.account_id, row.org_id, bool(row.management), row.joined_ms, row.email)


class OrganizationStoreMixin:
    """Multi-account methods for ``SqlStore``; each call is one transaction."""

    if TYPE_CHECKING:

        def _write(self) -> contextlib.AbstractContextManager[Connection]: ...

        def _read(self) -> contextlib.AbstractContextManager[Connection]: ...

    # -- organization ------------------------------------------------------------------------------

    def org_account(self, account_id: str) -> OrgAccount | None:
        """The account's organization membership, or None for a standalone account."""
        with self._read() as conn:
            row = conn.execute(select(org_accounts).where(org_accounts.c.account_id == account_id)).first()
        return None if row is None else _org_account(row)

    def org_accounts(self, org_id: str) -> list[OrgAccount]:
        """Every account of the organization, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(org_accounts)
                .where(org_accounts.c.org_id == org_id)
                .order_by(org_accounts.c.joined_ms, org_accounts.c.account_id)
            ).all()
        return [_org_account(r) for r in rows]

    def join_org(self, account: OrgAccount) -> bool:
        """Add the account to its organization (a management account also creates the organization's
        configuration). False when the account already belongs to an organization."""
        with self._write() as conn:
            found = conn.execute(
                select(org_accounts.c.org_id).where(org_accounts.c.account_id == account.account_id)
            ).first()
            if found is not None:
                return False
            conn.execute(
                org_accounts.insert().values(
                    account_id=account.account_id,
                    org_id=account.org_id,
                    management=account.management,
                    joined_ms=account.joined_ms,
                    email=account.email,
                )
            )
            if account.management:
                conn.execute(
                    org_config.insert().values(
                        org_id=account.org_id,
                        admin_account_id=None,
                        auto_enable_members="NONE",
                        features_json="[]",
                        updated_ms=account.joined_ms,
                    )
                )
            return True

    def org_config(self, org_id: str) -> OrgConfig | None:
        """The organization's configuration."""
        with self._read() as conn:
            row = conn.execute(select(org_config).where(org_config.c.org_id == org_id)).first()
        if row is None:
            return None
        return OrgConfig(
            org_id=row.org_id,
            admin_account_id=row.admin_account_id,
            auto_enable_members=row.auto_enable_members,
            features=tuple(json.loads(row.features_json)),
            updated_ms=row.updated_ms,
        )

    def save_org_config(self, config: OrgConfig) -> None:
        """Replace the organization's configuration."""
        with self._write() as conn:
            conn.execute(
                org_config.update()
                .where(org_config.c.org_id == config.org_id)
                .values(
                    admin_account_id=config.admin_account_id,
                    auto_enable_members=config.auto_enable_members,
                    features_json=json.dumps([dict(f) for f in config.features]),
                    updated_ms=config.updated_ms,
                )
            )

    # -- members -----------------------------------------------------------------------------------

    def get_member(self, admin_account_id: str, account_id: str) -> Member | None:
        """The relationship between an administrator and an account, if any."""
        with self._read() as conn:
            row = conn.execute(
                select(members).where(
                    members.c.admin_account_id == admin_account_id, members.c.account_id == account_id
                )
            ).first()
        return None if row is None else _member(row)

    def list_members(self, admin_account_id: str) -> list[Member]:
        """The administrator's member accounts, by account id."""
        with self._read() as conn:
            rows = conn.execute(
                select(members)
                .where(members.c.admin_account_id == admin_account_id)
                .order_by(members.c.account_id)
            ).all()
        return [_member(r) for r in rows]

    def memberships(self, account_id: str) -> list[Member]:
        """Every relationship in which the account is the member (invitations included)."""
        with self._read() as conn:
            rows = conn.execute(
                select(members).where(members.c.account_id == account_id).order_by(members.c.admin_account_id)
            ).all()
        return [_member(r) for r in rows]

    def put_member(self, member: Member) -> None:
        """Create or replace a relationship.

        Raises:
            MemberConflictError: ``member`` is associated (Enabled/Disabled) but the account is
                already associated with a different administrator.
        """
        with self._write() as conn:
            # PostgreSQL runs READ COMMITTED: without the lock two administrators could both see
            # no other association and both insert one.
            xact_lock(conn, MEMBER_LOCK)
            if member.status in ASSOCIATED:
                other = conn.execute(
                    select(members.c.admin_account_id).where(
                        members.c.account_id == member.account_id,
                        members.c.admin_account_id != member.admin_account_id,
                        members.c.status.in_(sorted(ASSOCIATED)),
                    )
                ).first()
                if other is not None:
                    raise MemberConflictError(member.account_id, other.admin_account_id)
            key = (
                members.c.admin_account_id == member.admin_account_id,
                members.c.account_id == member.account_id,
            )
            conn.execute(delete(members).where(*key))
            conn.execute(
                members.insert().values(
                    admin_account_id=member.admin_account_id,
                    account_id=member.account_id,
                    email=member.email,
                    status=member.status,
                    via_org=member.via_org,
                    invitation_id=member.invitation_id,
                    invited_ms=member.invited_ms,
                    updated_ms=member.updated_ms,
                )
            )

    def delete_member(self, admin_account_id: str, account_id: str) -> bool:
        """Forget a relationship; False when there was none."""
        with self._write() as conn:
            done = conn.execute(
                delete(members).where(
                    members.c.admin_account_id == admin_account_id, members.c.account_id == account_id
                )
            )
            return bool(done.rowcount)

    def enabled_members(self, admin_account_id: str) -> Sequence[str]:
        """Account ids whose findings and coverage the administrator sees (status Enabled)."""
        with self._read() as conn:
            rows = conn.execute(
                select(members.c.account_id)
                .where(members.c.admin_account_id == admin_account_id, members.c.status == "Enabled")
                .order_by(members.c.account_id)
            )
            return [str(a) for a in rows.scalars()]
