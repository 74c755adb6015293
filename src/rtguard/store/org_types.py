"""The multi-account value types and the storage boundary the organization logic relies on:
organization accounts, the organization's configuration, administrator–member relationships, and
the ``OrganizationStore`` protocol that ``SqlStore`` implements.

Pure declarations: must not import SQLAlchemy or hold state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

__all__ = [
    "ASSOCIATED",
    "Member",
    "MemberConflictError",
    "OrgAccount",
    "OrgConfig",
    "OrganizationStore",
]

ASSOCIATED: Final = frozenset({"Enabled", "Disabled"})
"""Relationship statuses in which the member belongs to its administrator."""


class MemberConflictError(Exception):
    """The account is already associated with another administrator."""

    def __init__(self, account_id: str, admin_account_id: str) -> None:
        super().__init__(f"account {account_id} is already a member of administrator {admin_account_id}")
        self.admin_account_id = admin_account_id


@dataclass(frozen=True, slots=True)
class OrgAccount:
    """An account of the organization."""

    account_id: str
    org_id: str
    management: bool
    joined_ms: int
    email: str


@dataclass(frozen=True, slots=True)
class OrgConfig:
    """The organization's GuardDuty settings, kept by the delegated administrator."""

    org_id: str
    admin_account_id: str | None
    auto_enable_members: str  # NEW | ALL | NONE
    features: tuple[Mapping[str, Any], ...] = field(default=())
    updated_ms: int = 0


@dataclass(frozen=True, slots=True)
class Member:
    """One administrator–member relationship (GuardDuty's ``Member``)."""

    admin_account_id: str
    account_id: str
    email: str
    status: str
    via_org: bool
    invitation_id: str | None
    invited_ms: int | None
    updated_ms: int


class OrganizationStore(Protocol):
    """Multi-account storage; each call is one transaction (see ``OrganizationStoreMixin``)."""

    def org_account(self, account_id: str) -> OrgAccount | None: ...

    def org_accounts(self, org_id: str) -> list[OrgAccount]: ...

    def join_org(self, account: OrgAccount) -> bool: ...

    def org_config(self, org_id: str) -> OrgConfig | None: ...

    def save_org_config(self, config: OrgConfig) -> None: ...

    def get_member(self, admin_account_id: str, account_id: str) -> Member | None: ...

    def list_members(self, admin_account_id: str) -> list[Member]: ...

    def memberships(self, account_id: str) -> list[Member]: ...

    def put_member(self, member: Member) -> None: ...

    def delete_member(self, admin_account_id: str, account_id: str) -> bool: ...

    def enabled_members(self, admin_account_id: str) -> Sequence[str]: ...
