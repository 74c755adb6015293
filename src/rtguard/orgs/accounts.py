"""Creating further accounts on a server: each gets its own detector, access key pair and agent
enrollment token, joins the server's organization (managed by the server's first account) unless
it is standalone, and gets the organization's auto-enable settings applied as it joins.

This plays the part of AWS Organizations' ``CreateAccount`` for one rtguard server. Must not write
files or print (the command line does).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from rtguard.orgs.service import auto_enable_new, ensure_organization, placeholder_email
from rtguard.store.lifecycle import DetectorChanges
from rtguard.store.org_types import Member, OrgAccount, OrganizationStore

__all__ = ["NewAccount", "create_account"]


class _Store(OrganizationStore, Protocol):
    def create_account(self, account_id: str, region: str) -> None: ...

    def get_account_region(self, account_id: str) -> str | None: ...

    def create_detector(self, account_id: str, tags: Any = None) -> str: ...

    def list_detectors(self, account_id: str) -> list[str]: ...

    def get_detector(self, account_id: str, detector_id: str) -> dict[str, Any] | None: ...

    def update_detector(self, account_id: str, detector_id: str, changes: DetectorChanges) -> bool: ...

    def create_access_key(self, account_id: str) -> tuple[str, str]: ...

    def create_agent_token(self, account_id: str) -> str: ...


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What creating an account produced."""

    account_id: str
    detector_id: str
    region: str
    aws_access_key_id: str
    aws_secret_access_key: str
    agent_token: str
    org_id: str | None
    member_of: Member | None  # set when auto-enable made it a member of the administrator


def create_account(
    store: _Store,
    *,
    management_account_id: str,
    region: str,
    now_ms: int,
    email: str | None = None,
    standalone: bool = False,
    runtime_monitoring: bool = False,
) -> NewAccount:
    """Create an account with its detector and credentials.

    Runtime Monitoring starts DISABLED, as after GuardDuty's ``CreateDetector``, unless
    ``runtime_monitoring`` is set or the organization's auto-enable turns it on.
    """
    if store.get_account_region(management_account_id) is None:
        raise ValueError(f"management account {management_account_id} does not exist on this server")
    account_id = str(secrets.randbelow(9 * 10**11) + 10**11)
    while store.get_account_region(account_id) is not None:
        account_id = str(secrets.randbelow(9 * 10**11) + 10**11)
    store.create_account(account_id, region)
    detector_id = store.create_detector(account_id)
    current = store.get_detector(account_id, detector_id) or {}
    status = "ENABLED" if runtime_monitoring else "DISABLED"
    features = [
        {**f, "status": status} if f.get("name") == "RUNTIME_MONITORING" else f
        for f in current.get("features", [])
    ]
    store.update_detector(account_id, detector_id, DetectorChanges(features=features))
    key_id, secret = store.create_access_key(account_id)
    token = store.create_agent_token(account_id)
    org_id: str | None = None
    member: Member | None = None
    if not standalone:
        org_id = ensure_organization(store, management_account_id, now_ms)
        joined = OrgAccount(account_id, org_id, False, now_ms, email or placeholder_email(account_id))
        store.join_org(joined)
        member = auto_enable_new(store, joined, now_ms)
    return NewAccount(account_id, detector_id, region, key_id, secret, token, org_id, member)
