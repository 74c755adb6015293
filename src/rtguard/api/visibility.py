"""Which accounts and detectors an API caller may see: its own, plus, for an administrator, the
accounts of its Enabled members (GuardDuty: the administrator views and archives its members'
findings and coverage; a member sees only its own).

Read-only look-ups through the call's store; must not decide anything else about organizations
(``rtguard.orgs.service``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtguard.store.query import Scope

if TYPE_CHECKING:
    from rtguard.api.operations import Call

__all__ = ["finding_scope", "visible_accounts"]


def visible_accounts(call: Call) -> list[str]:
    """The caller's account first, then its Enabled members' accounts."""
    return [call.account_id, *call.store.enabled_members(call.account_id)]


def finding_scope(call: Call, detector_id: str) -> Scope:
    """The caller's detector plus its Enabled members' detectors (just ``detector_id`` for an
    account without members, so single-account queries stay exactly as before)."""
    members = call.store.enabled_members(call.account_id)
    if not members:
        return detector_id
    ids = [detector_id]
    for account_id in members:
        ids.extend(call.store.list_detectors(account_id)[:1])
    return tuple(ids)
