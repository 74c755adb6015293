"""Organization rules shared by the API and the command line: who manages the organization, what
auto-enable does when an account joins or when the administrator turns it to ALL, and how a member
is associated with its administrator and given the organization's features.

GuardDuty's semantics (reference §6): NEW enables accounts that join from now on, ALL enables every
account (rtguard does it at once, not within 24 hours), NONE enables nothing and disables nothing.
Functions take the store and a clock value; they must not know about HTTP or print anything.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from rtguard.model.features import merge_features
from rtguard.store.lifecycle import DetectorChanges
from rtguard.store.org_types import ASSOCIATED, Member, OrgAccount, OrganizationStore, OrgConfig

__all__ = [
    "AUTO_ENABLE",
    "OrgError",
    "administered_by",
    "associate",
    "auto_enable_all",
    "auto_enable_new",
    "config_of",
    "ensure_organization",
    "locked_by_all",
    "org_managed",
    "placeholder_email",
]

AUTO_ENABLE: Final = ("NEW", "ALL", "NONE")
_ORG_ALPHABET: Final = string.ascii_lowercase + string.digits


class OrgError(Exception):
    """A request the organization's rules refuse; the message says why."""


class _Store(OrganizationStore, Protocol):
    def list_detectors(self, account_id: str) -> list[str]: ...

    def get_detector(self, account_id: str, detector_id: str) -> dict[str, Any] | None: ...

    def update_detector(self, account_id: str, detector_id: str, changes: DetectorChanges) -> bool: ...


def placeholder_email(account_id: str) -> str:
    """The e-mail recorded for an account created without one (a reserved, undeliverable domain)."""
    return f"account-{account_id}@rtguard.invalid"


def ensure_organization(store: OrganizationStore, management_account_id: str, now_ms: int) -> str:
    """The organization managed by ``management_account_id``, created on first use; its id."""
    found = store.org_account(management_account_id)
    if found is not None:
        return found.org_id
    org_id = "o-" + "".join(secrets.choice(_ORG_ALPHABET) for _ in range(10))
    account = OrgAccount(
        management_account_id, org_id, True, now_ms, placeholder_email(management_account_id)
    )
    store.join_org(account)
    current = store.org_account(management_account_id)
    assert current is not None
    return current.org_id


def _feature_requests(config: OrgConfig, modes: frozenset[str]) -> list[dict[str, Any]]:
    """UpdateDetector-style requests for the features (and additional configurations) whose
    ``autoEnable`` is one of ``modes``."""
    out: list[dict[str, Any]] = []
    for feature in config.features:
        extra = [
            {"name": c["name"], "status": "ENABLED"}
            for c in feature.get("additionalConfiguration", [])
            if c.get("autoEnable") in modes
        ]
        status = "ENABLED" if feature.get("autoEnable") in modes else None
        if status is not None or extra:
            out.append({"name": feature["name"], "status": status, "additionalConfiguration": extra})
    return out


def _apply_features(
    store: _Store, account_id: str, requests: Sequence[Mapping[str, Any]], now: float
) -> None:
    if not requests:
        return
    for detector_id in store.list_detectors(account_id)[:1]:
        current = store.get_detector(account_id, detector_id) or {}
        features = merge_features(current.get("features", []), requests, now)
        store.update_detector(account_id, detector_id, DetectorChanges(features=features))


def associate(
    store: _Store,
    admin_account_id: str,
    account_id: str,
    email: str,
    now_ms: int,
    *,
    via_org: bool,
    config: OrgConfig | None = None,
    modes: frozenset[str] = frozenset({"NEW", "ALL"}),
) -> Member:
    """Make ``account_id`` an Enabled member of the administrator and, for an organization member,
    turn on the organization's auto-enabled features on its detector.

    Raises:
        rtguard.store.org_types.MemberConflictError: the account has another administrator.
    """
    previous = store.get_member(admin_account_id, account_id)
    member = Member(
        admin_account_id=admin_account_id,
        account_id=account_id,
        email=email,
        status="Enabled",
        via_org=via_org,
        invitation_id=previous.invitation_id if previous else None,
        invited_ms=previous.invited_ms if previous else None,
        updated_ms=now_ms,
    )
    store.put_member(member)
    if config is not None:
        _apply_features(store, account_id, _feature_requests(config, modes), now_ms / 1000)
    return member


def _admin_and_config(store: OrganizationStore, org_id: str) -> tuple[str, OrgConfig] | None:
    config = store.org_config(org_id)
    if config is None or config.admin_account_id is None:
        return None
    return config.admin_account_id, config


def auto_enable_new(store: _Store, account: OrgAccount, now_ms: int) -> Member | None:
    """Apply auto-enable to an account that has just joined the organization (NEW or ALL)."""
    found = _admin_and_config(store, account.org_id)
    if found is None:
        return None
    admin, config = found
    if config.auto_enable_members not in ("NEW", "ALL") or account.account_id == admin:
        return None
    return associate(store, admin, account.account_id, account.email, now_ms, via_org=True, config=config)


def auto_enable_all(store: _Store, org_id: str, now_ms: int) -> list[str]:
    """ALL: make every organization account an Enabled member (re-joined and existing ones too) and
    apply the features set to ALL to each; returns the account ids that changed."""
    found = _admin_and_config(store, org_id)
    if found is None:
        return []
    admin, config = found
    changed: list[str] = []
    for account in store.org_accounts(org_id):
        if account.account_id == admin:
            continue
        current = store.get_member(admin, account.account_id)
        if config.auto_enable_members == "ALL" and (current is None or current.status != "Enabled"):
            associate(store, admin, account.account_id, account.email, now_ms, via_org=True, config=config)
            changed.append(account.account_id)
        elif current is not None and current.status in ASSOCIATED:
            requests = _feature_requests(config, frozenset({"ALL"}))
            _apply_features(store, account.account_id, requests, now_ms / 1000)
    return changed


def config_of(store: OrganizationStore, account_id: str) -> OrgConfig | None:
    """The configuration of the account's organization; None for a standalone account."""
    mine = store.org_account(account_id)
    return None if mine is None else store.org_config(mine.org_id)


def administered_by(store: OrganizationStore, account_id: str) -> OrgConfig | None:
    """The configuration of the organization ``account_id`` is the delegated administrator of."""
    config = config_of(store, account_id)
    return config if config is not None and config.admin_account_id == account_id else None


def locked_by_all(store: OrganizationStore, account_id: str) -> bool:
    """Whether the account's organization auto-enables ALL: its organization members can then not
    be disassociated, deleted or stopped, nor leave."""
    config = config_of(store, account_id)
    return config is not None and config.auto_enable_members == "ALL"


def org_managed(store: OrganizationStore, account_id: str) -> Member | None:
    """The account's association with its organization's delegated administrator, if it has one:
    such a member cannot change organization-managed settings or archive its findings."""
    for member in store.memberships(account_id):
        if member.status in ASSOCIATED and member.via_org:
            return member
    return None
