"""Which accounts and detectors an API caller may see: its own, plus, for an administrator, the
accounts of its Enabled members (GuardDuty: the administrator views and archives its members'
findings and coverage; a member sees only its own).

Used by the API and the console. Read-only look-ups through the store; must not decide anything else about organizations
(``rtguard.orgs.service``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rtguard.store.org_types import OrganizationStore
from rtguard.store.query import Scope

if TYPE_CHECKING:
    from rtguard.api.operations import Call

__all__ = ["accounts_of", "finding_scope", "scope_of", "visible_accounts"]


class _Store(OrganizationStore, Protocol):
    def list_detectors(self, account_id: str) -> list[str]: ...


def accounts_of(store: _Store, account_id: str) -> list[str]:
    """The account first, then its Enabled members' accounts."""
    return [account_id, *store.enabled_members(account_id)]


def scope_of(store: _Store, account_id: str, detector_id: str) -> Scope:
    """The account's detector plus its Enabled members' detectors (just ``detector_id`` for an
    account without members, so single-account queries stay exactly as before)."""
    members = store.enabled_members(account_id)
    if not members:
        return detector_id
    ids = [detector_id]
    for member in members:
        ids.extend(store.list_detectors(member)[:1])
    return tuple(ids)


def visible_accounts(call: Call) -> list[str]:
    """The caller's account first, then its Enabled members' accounts."""
    return accounts_of(call.store, call.account_id)


def finding_scope(call: Call, detector_id: str) -> Scope:
    """:func:`scope_of` for an API call."""
    return scope_of(call.store, call.account_id, detector_id)
