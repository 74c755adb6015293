"""Member operations (GuardDuty's administrator–member model): the administrator's CreateMembers,
GetMembers, ListMembers, InviteMembers, Start/StopMonitoringMembers, DisassociateMembers and
DeleteMembers, and the member's side: ListInvitations, GetInvitationsCount,
AcceptAdministratorInvitation (and the legacy AcceptInvitation), DeclineInvitations,
DeleteInvitations, GetAdministratorAccount (GetMasterAccount) and DisassociateFromAdministratorAccount
(DisassociateFromMasterAccount).

An organization account added by the delegated administrator is Enabled at once (no invitation);
any other account goes Created → Invited → Enabled when it accepts. Per-account problems are
returned as ``unprocessedAccounts`` like GuardDuty does; malformed requests raise
``BadRequestError``. Must not touch findings or detectors except through ``rtguard.orgs.service``.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.errors import BadRequestError
from rtguard.api.ops_common import optional_text, page_of, require_detector
from rtguard.orgs.service import administered_by, associate, locked_by_all, org_managed
from rtguard.store import ids
from rtguard.store.org_types import ASSOCIATED, Member, MemberConflictError

if TYPE_CHECKING:
    from rtguard.api.operations import Call, Handler

__all__ = ["MEMBER_OPERATIONS", "account_ids", "member_doc"]

_MAX_ACCOUNTS: Final = 50
_ALL_LOCKED: Final = (
    "The request is rejected because the organization's auto-enable setting is ALL: organization "
    "members cannot be disassociated, deleted or stopped; set autoEnableOrganizationMembers to NEW or NONE first."
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else ids.iso(datetime.fromtimestamp(ms / 1000, UTC))


def account_ids(raw: Any, name: str = "accountIds") -> list[str]:
    """An ``accountIds`` list: 1..50 twelve-digit ids (duplicates folded)."""
    if not isinstance(raw, list) or not raw or not all(isinstance(a, str) for a in raw):
        raise BadRequestError(f"{name} must be a non-empty list of 12-digit account ids")
    if len(raw) > _MAX_ACCOUNTS:
        raise BadRequestError(f"{name} has {len(raw)} ids; at most {_MAX_ACCOUNTS} are allowed")
    bad = [a for a in raw if not ids.is_account_id(a)]
    if bad:
        raise BadRequestError(f"{name}: {bad[0][:20]!r} is not a 12-digit account id")
    return list(dict.fromkeys(raw))


def member_doc(call: Call, member: Member) -> dict[str, Any]:
    """GuardDuty's ``Member`` shape."""
    doc: dict[str, Any] = {
        "accountId": member.account_id,
        "masterId": member.admin_account_id,
        "administratorId": member.admin_account_id,
        "email": member.email,
        "relationshipStatus": member.status,
        "updatedAt": _iso(member.updated_ms),
    }
    detectors = call.store.list_detectors(member.account_id)
    if detectors:
        doc["detectorId"] = detectors[0]
    if member.invited_ms is not None:
        doc["invitedAt"] = _iso(member.invited_ms)
    return doc


def _unprocessed(account_id: str, result: str) -> dict[str, str]:
    return {"accountId": account_id, "result": result}


def _all_locked(call: Call, member: Member) -> bool:
    return member.via_org and locked_by_all(call.store, call.account_id)


# -- the administrator's side ----------------------------------------------------------------------


def create_members(call: Call) -> dict[str, Any]:
    """CreateMembers: organization accounts become Enabled members at once (with the organization's
    auto-enabled features); other accounts are Created and need InviteMembers."""
    require_detector(call)
    details = call.body.get("accountDetails")
    if not isinstance(details, list) or not details or not all(isinstance(d, dict) for d in details):
        raise BadRequestError("accountDetails must be a non-empty list of {accountId, email}")
    if len(details) > _MAX_ACCOUNTS:
        raise BadRequestError(
            f"accountDetails has {len(details)} entries; at most {_MAX_ACCOUNTS} are allowed"
        )
    for detail in details:
        account_id = detail.get("accountId")
        if not isinstance(account_id, str) or not ids.is_account_id(account_id):
            raise BadRequestError(f"accountId {str(account_id)[:20]!r} is not a 12-digit account id")
        optional_text(detail.get("email"), "email", low=1, high=64)
        if detail.get("email") is None:
            raise BadRequestError(f"accountDetails for {account_id}: email is required")
    if any(m.status in ASSOCIATED for m in call.store.memberships(call.account_id)):
        raise BadRequestError("The request is rejected because a member account cannot be an administrator.")
    config = administered_by(call.store, call.account_id)
    org_id = config.org_id if config is not None else None
    unprocessed: list[dict[str, str]] = []
    now = _now_ms()
    for detail in details:
        account_id, email = detail["accountId"], detail["email"]
        if account_id == call.account_id:
            unprocessed.append(_unprocessed(account_id, "The account cannot be a member of itself."))
            continue
        if call.store.get_account_region(account_id) is None:
            unprocessed.append(_unprocessed(account_id, "The account does not exist on this rtguard server."))
            continue
        if call.store.list_members(account_id):
            unprocessed.append(
                _unprocessed(account_id, "The account is an administrator and cannot be a member.")
            )
            continue
        existing = call.store.get_member(call.account_id, account_id)
        if existing is not None and existing.status in ASSOCIATED:
            unprocessed.append(
                _unprocessed(account_id, "The account is already a member of this administrator.")
            )
            continue
        joined = call.store.org_account(account_id)
        try:
            if org_id is not None and joined is not None and joined.org_id == org_id:
                associate(call.store, call.account_id, account_id, email, now, via_org=True, config=config)
            else:
                call.store.put_member(
                    Member(call.account_id, account_id, email, "Created", False, None, None, now)
                )
        except MemberConflictError as exc:
            unprocessed.append(_unprocessed(account_id, str(exc)))
    return {"unprocessedAccounts": unprocessed}


def _for_each(
    call: Call, change: Callable[[Member], Member | str | None], *, mine: bool = True
) -> dict[str, Any]:
    """Apply ``change`` to each named member of the caller; ``change`` returns the new member, a
    reason it cannot (unprocessed), or None to delete the relationship."""
    require_detector(call)
    unprocessed: list[dict[str, str]] = []
    for account_id in account_ids(call.body.get("accountIds")):
        member = call.store.get_member(call.account_id, account_id)
        if member is None:
            unprocessed.append(_unprocessed(account_id, "The account is not a member of this administrator."))
            continue
        outcome = change(member)
        if isinstance(outcome, str):
            unprocessed.append(_unprocessed(account_id, outcome))
        elif outcome is None:
            call.store.delete_member(call.account_id, account_id)
        else:
            try:
                call.store.put_member(outcome)
            except MemberConflictError as exc:
                unprocessed.append(_unprocessed(account_id, str(exc)))
    return {"unprocessedAccounts": unprocessed}


def _with(member: Member, status: str, **changes: Any) -> Member:
    return dataclasses.replace(member, status=status, updated_ms=_now_ms(), **changes)


def invite_members(call: Call) -> dict[str, Any]:
    """InviteMembers: Created (or Removed/Resigned) accounts get an invitation."""
    optional_text(call.body.get("message"), "message", low=0, high=10000)

    def change(member: Member) -> Member | str:
        if member.via_org:
            return "Organization accounts are members without an invitation."
        if member.status in ASSOCIATED:
            return "The account is already an associated member."
        return _with(member, "Invited", invitation_id=secrets.token_hex(16), invited_ms=_now_ms())

    return _for_each(call, change)


def start_monitoring(call: Call) -> dict[str, Any]:
    """StartMonitoringMembers: Disabled members are Enabled again."""

    def change(member: Member) -> Member | str:
        if member.status not in ASSOCIATED:
            return f"The account is not an associated member (status {member.status})."
        return _with(member, "Enabled")

    return _for_each(call, change)


def stop_monitoring(call: Call) -> dict[str, Any]:
    """StopMonitoringMembers: Enabled members are Disabled (their findings leave the
    administrator's view); refused for organization members under auto-enable ALL."""

    def change(member: Member) -> Member | str:
        if _all_locked(call, member):
            return _ALL_LOCKED
        if member.status not in ASSOCIATED:
            return f"The account is not an associated member (status {member.status})."
        return _with(member, "Disabled")

    return _for_each(call, change)


def disassociate_members(call: Call) -> dict[str, Any]:
    """DisassociateMembers: the relationship stays listed as Removed until DeleteMembers."""

    def change(member: Member) -> Member | str:
        return _ALL_LOCKED if _all_locked(call, member) else _with(member, "Removed")

    return _for_each(call, change)


def delete_members(call: Call) -> dict[str, Any]:
    """DeleteMembers: disassociate and forget the relationship."""

    def change(member: Member) -> str | None:
        return _ALL_LOCKED if _all_locked(call, member) else None

    return _for_each(call, change)


def get_members(call: Call) -> dict[str, Any]:
    """GetMembers: the named members; unknown ones are unprocessed."""
    require_detector(call)
    found: list[dict[str, Any]] = []
    unprocessed: list[dict[str, str]] = []
    for account_id in account_ids(call.body.get("accountIds")):
        member = call.store.get_member(call.account_id, account_id)
        if member is None:
            unprocessed.append(_unprocessed(account_id, "The account is not a member of this administrator."))
        else:
            found.append(member_doc(call, member))
    return {"members": found, "unprocessedAccounts": unprocessed}


def list_members(call: Call) -> dict[str, Any]:
    """ListMembers: associated members by default; ``onlyAssociated=false`` lists every one."""
    require_detector(call)
    only = call.query.get("onlyAssociated", "true").lower()
    if only not in ("true", "false"):
        raise BadRequestError("onlyAssociated must be true or false")
    every = call.store.list_members(call.account_id)
    chosen = [m for m in every if only == "false" or m.status in ASSOCIATED]
    by_id = {m.account_id: m for m in chosen}
    page, token = page_of(list(by_id), call.query)
    body: dict[str, Any] = {"members": [member_doc(call, by_id[a]) for a in page]}
    if token:
        body["nextToken"] = token
    return body


# -- the member's side -----------------------------------------------------------------------------


def list_invitations(call: Call) -> dict[str, Any]:
    """ListInvitations: pending invitations to the caller, by administrator."""
    pending = {
        m.admin_account_id: m for m in call.store.memberships(call.account_id) if m.status == "Invited"
    }
    page, token = page_of(list(pending), call.query)
    body: dict[str, Any] = {
        "invitations": [
            {
                "accountId": admin,
                "invitationId": pending[admin].invitation_id,
                "relationshipStatus": "Invited",
                "invitedAt": _iso(pending[admin].invited_ms),
            }
            for admin in page
        ]
    }
    if token:
        body["nextToken"] = token
    return body


def invitations_count(call: Call) -> dict[str, Any]:
    """GetInvitationsCount: how many invitations are pending (accepted ones do not count)."""
    return {"invitationsCount": sum(m.status == "Invited" for m in call.store.memberships(call.account_id))}


def _accept(call: Call, admin_key: str) -> dict[str, Any]:
    require_detector(call)
    admin = call.body.get(admin_key)
    invitation = call.body.get("invitationId")
    if not isinstance(admin, str) or not ids.is_account_id(admin):
        raise BadRequestError(f"{admin_key} must be a 12-digit account id")
    if not isinstance(invitation, str) or not invitation:
        raise BadRequestError("invitationId is required")
    member = call.store.get_member(admin, call.account_id)
    if (
        member is None
        or member.status != "Invited"
        or not secrets.compare_digest(member.invitation_id or "", invitation)
    ):
        raise BadRequestError(
            f"The request is rejected because there is no pending invitation {invitation[:64]!r} from {admin}."
        )
    if call.store.list_members(call.account_id):
        raise BadRequestError("The request is rejected because an administrator cannot become a member.")
    try:
        call.store.put_member(_with(member, "Enabled"))
    except MemberConflictError as exc:
        raise BadRequestError(f"The request is rejected because {exc}; disassociate first.") from exc
    return {}


def accept_administrator_invitation(call: Call) -> dict[str, Any]:
    """AcceptAdministratorInvitation: the caller becomes an Enabled member."""
    return _accept(call, "administratorId")


def accept_invitation(call: Call) -> dict[str, Any]:
    """AcceptInvitation (legacy name, ``masterId``)."""
    return _accept(call, "masterId")


def _answer_invitations(call: Call, status: str) -> dict[str, Any]:
    unprocessed: list[dict[str, str]] = []
    for admin in account_ids(call.body.get("accountIds")):
        member = call.store.get_member(admin, call.account_id)
        if member is None or member.status != "Invited":
            unprocessed.append(_unprocessed(admin, "There is no pending invitation from this account."))
            continue
        call.store.put_member(_with(member, status))
    return {"unprocessedAccounts": unprocessed}


def decline_invitations(call: Call) -> dict[str, Any]:
    """DeclineInvitations: the administrators see the relationship as Removed."""
    return _answer_invitations(call, "Removed")


def delete_invitations(call: Call) -> dict[str, Any]:
    """DeleteInvitations: like declining; the invitation is gone from the member's list."""
    return _answer_invitations(call, "Removed")


def _administrator(call: Call) -> Member | None:
    mine = call.store.memberships(call.account_id)
    return next((m for m in mine if m.status in ASSOCIATED), None) or next(
        (m for m in mine if m.status == "Invited"), None
    )


def get_administrator(call: Call, key: str) -> dict[str, Any]:
    require_detector(call)
    member = _administrator(call)
    if member is None:
        return {key: {}}
    doc: dict[str, Any] = {"accountId": member.admin_account_id, "relationshipStatus": member.status}
    if member.invitation_id:
        doc["invitationId"] = member.invitation_id
    if member.invited_ms is not None:
        doc["invitedAt"] = _iso(member.invited_ms)
    return {key: doc}


def disassociate_from_administrator(call: Call) -> dict[str, Any]:
    """DisassociateFromAdministratorAccount: the member leaves (Resigned); refused for organization
    members under auto-enable ALL."""
    require_detector(call)
    member = next((m for m in call.store.memberships(call.account_id) if m.status in ASSOCIATED), None)
    if member is None:
        raise BadRequestError("The request is rejected because the account has no administrator.")
    if org_managed(call.store, call.account_id) is not None and locked_by_all(call.store, call.account_id):
        raise BadRequestError(_ALL_LOCKED)
    call.store.put_member(_with(member, "Resigned"))
    return {}


MEMBER_OPERATIONS: Final[Mapping[str, Handler]] = {
    "CreateMembers": create_members,
    "GetMembers": get_members,
    "ListMembers": list_members,
    "InviteMembers": invite_members,
    "StartMonitoringMembers": start_monitoring,
    "StopMonitoringMembers": stop_monitoring,
    "DisassociateMembers": disassociate_members,
    "DeleteMembers": delete_members,
    "ListInvitations": list_invitations,
    "GetInvitationsCount": invitations_count,
    "AcceptAdministratorInvitation": accept_administrator_invitation,
    "AcceptInvitation": accept_invitation,
    "DeclineInvitations": decline_invitations,
    "DeleteInvitations": delete_invitations,
    "GetAdministratorAccount": lambda call: get_administrator(call, "administrator"),
    "GetMasterAccount": lambda call: get_administrator(call, "master"),
    "DisassociateFromAdministratorAccount": disassociate_from_administrator,
    "DisassociateFromMasterAccount": disassociate_from_administrator,
}
