"""Organization operations: the management account's EnableOrganizationAdminAccount,
DisableOrganizationAdminAccount and ListOrganizationAdminAccounts; the delegated administrator's
DescribeOrganizationConfiguration, UpdateOrganizationConfiguration (auto-enable NEW | ALL | NONE
for members and per feature), GetOrganizationStatistics, GetMemberDetectors and
UpdateMemberDetectors.

Validation and wire shapes only; what auto-enable does is ``rtguard.orgs.service``'s. Must not
touch findings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.errors import BadRequestError
from rtguard.api.ops_common import enum_value, page_of, require_detector
from rtguard.api.ops_detectors import ADDITIONAL, RUNTIME_FEATURES, feature_requests
from rtguard.api.ops_members import account_ids
from rtguard.model.features import merge_features
from rtguard.orgs.service import AUTO_ENABLE, administered_by, auto_enable_all
from rtguard.store import ids
from rtguard.store.lifecycle import DetectorChanges
from rtguard.store.org_types import ASSOCIATED, OrgConfig

if TYPE_CHECKING:
    from rtguard.api.operations import Call, Handler

__all__ = ["ORG_OPERATIONS"]

_NOT_MANAGEMENT: Final = (
    "The request is rejected because the current account is not the management account of an organization."
)
_NOT_ADMIN: Final = "The request is rejected because the current account is not the delegated administrator of its organization."
# rtguard has only Runtime Monitoring: the other data sources are reported as disabled.
_NO_DATA_SOURCES: Final = {
    "cloudTrail": {"status": "DISABLED"},
    "dnsLogs": {"status": "DISABLED"},
    "flowLogs": {"status": "DISABLED"},
    "s3Logs": {"status": "DISABLED"},
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _management_org(call: Call) -> str:
    mine = call.store.org_account(call.account_id)
    if mine is None or not mine.management:
        raise BadRequestError(_NOT_MANAGEMENT)
    return mine.org_id


def _delegated(call: Call) -> OrgConfig:
    """The configuration of the organization the caller is the delegated administrator of."""
    config = administered_by(call.store, call.account_id)
    if config is None:
        raise BadRequestError(_NOT_ADMIN)
    return config


def _admin_config(call: Call) -> OrgConfig:
    require_detector(call)
    return _delegated(call)


def _admin_account_id(call: Call) -> str:
    raw = call.body.get("adminAccountId")
    if not isinstance(raw, str) or not ids.is_account_id(raw):
        raise BadRequestError("adminAccountId must be a 12-digit account id")
    return raw


def enable_admin(call: Call) -> dict[str, Any]:
    """EnableOrganizationAdminAccount: make an organization account the delegated administrator."""
    org_id = _management_org(call)
    admin = _admin_account_id(call)
    joined = call.store.org_account(admin)
    if joined is None or joined.org_id != org_id:
        raise BadRequestError(
            f"The request is rejected because account {admin} is not in organization {org_id}."
        )
    config = call.store.org_config(org_id)
    assert config is not None
    if config.admin_account_id == admin:
        return {}
    if config.admin_account_id is not None:
        raise BadRequestError(
            f"The request is rejected because {config.admin_account_id} is already the delegated administrator; "
            "an organization has one. Disable it first."
        )
    if any(m.status in ASSOCIATED for m in call.store.memberships(admin)):
        raise BadRequestError(
            f"The request is rejected because account {admin} is a member of an administrator."
        )
    call.store.save_org_config(
        OrgConfig(org_id, admin, config.auto_enable_members, config.features, _now_ms())
    )
    return {}


def disable_admin(call: Call) -> dict[str, Any]:
    """DisableOrganizationAdminAccount: the administrator's organization members are disassociated."""
    org_id = _management_org(call)
    admin = _admin_account_id(call)
    config = call.store.org_config(org_id)
    assert config is not None
    if config.admin_account_id != admin:
        raise BadRequestError(f"The request is rejected because {admin} is not the delegated administrator.")
    for member in call.store.list_members(admin):
        if member.via_org:
            call.store.delete_member(admin, member.account_id)
    call.store.save_org_config(
        OrgConfig(org_id, None, config.auto_enable_members, config.features, _now_ms())
    )
    return {}


def list_admins(call: Call) -> dict[str, Any]:
    """ListOrganizationAdminAccounts: the delegated administrator, if any."""
    config = call.store.org_config(_management_org(call))
    admins = [config.admin_account_id] if config and config.admin_account_id else []
    page, token = page_of(admins, call.query)
    body: dict[str, Any] = {"adminAccounts": [{"adminAccountId": a, "adminStatus": "ENABLED"} for a in page]}
    if token:
        body["nextToken"] = token
    return body


def _config_doc(config: OrgConfig) -> dict[str, Any]:
    return {
        "autoEnable": config.auto_enable_members in ("NEW", "ALL"),
        "autoEnableOrganizationMembers": config.auto_enable_members,
        "memberAccountLimitReached": False,
        "features": [dict(f) for f in config.features],
    }


def describe_config(call: Call) -> dict[str, Any]:
    """DescribeOrganizationConfiguration."""
    return _config_doc(_admin_config(call))


def _org_features(raw: Any, current: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The configuration's features after applying ``raw`` (UpdateOrganizationConfiguration)."""
    merged = {str(f["name"]): dict(f) for f in current}
    if raw is None:
        return tuple(merged.values())
    if not isinstance(raw, list) or not all(isinstance(f, dict) for f in raw):
        raise BadRequestError("features must be a list of {name, autoEnable, additionalConfiguration}")
    for feature in raw:
        name = enum_value(feature.get("name"), "feature name", RUNTIME_FEATURES)
        entry = merged.setdefault("RUNTIME_MONITORING", {"name": "RUNTIME_MONITORING", "autoEnable": "NONE"})
        if feature.get("autoEnable") is not None:
            entry["autoEnable"] = enum_value(feature["autoEnable"], f"{name} autoEnable", AUTO_ENABLE)
        extra = feature.get("additionalConfiguration") or []
        if not isinstance(extra, list) or not all(isinstance(e, dict) for e in extra):
            raise BadRequestError("additionalConfiguration must be a list of {name, autoEnable}")
        configs = {str(c["name"]): dict(c) for c in entry.get("additionalConfiguration", [])}
        for item in extra:
            extra_name = enum_value(item.get("name"), "additionalConfiguration name", ADDITIONAL)
            mode = enum_value(item.get("autoEnable"), f"{extra_name} autoEnable", AUTO_ENABLE)
            configs[extra_name] = {"name": extra_name, "autoEnable": mode}
        entry["additionalConfiguration"] = list(configs.values())
    return tuple(merged.values())


def update_config(call: Call) -> dict[str, Any]:
    """UpdateOrganizationConfiguration: auto-enable for members and features; ALL acts at once."""
    config = _admin_config(call)
    if call.body.get("dataSources"):
        raise BadRequestError("dataSources are not supported by rtguard; use features (RUNTIME_MONITORING)")
    members = call.body.get("autoEnableOrganizationMembers")
    legacy = call.body.get("autoEnable")
    if legacy is not None and not isinstance(legacy, bool):
        raise BadRequestError("autoEnable must be true or false")
    if members is not None:
        mode = enum_value(members, "autoEnableOrganizationMembers", AUTO_ENABLE)
        if legacy is not None and legacy != (mode != "NONE"):
            raise BadRequestError(
                "autoEnable contradicts autoEnableOrganizationMembers; send only the latter"
            )
    elif legacy is not None:
        mode = "NEW" if legacy else "NONE"
    else:
        mode = config.auto_enable_members
    features = _org_features(call.body.get("features"), config.features)
    updated = OrgConfig(config.org_id, config.admin_account_id, mode, features, _now_ms())
    call.store.save_org_config(updated)
    auto_enable_all(call.store, config.org_id, updated.updated_ms)
    return {}


def _runtime_feature(call: Call, account_id: str) -> Mapping[str, Any] | None:
    detectors = call.store.list_detectors(account_id)
    detector = call.store.get_detector(account_id, detectors[0]) if detectors else None
    return next(
        (f for f in (detector or {}).get("features", []) if f.get("name") == "RUNTIME_MONITORING"), None
    )


def organization_statistics(call: Call) -> dict[str, Any]:
    """GetOrganizationStatistics: accounts, members, and how many have each feature on."""
    config = _delegated(call)
    accounts = call.store.org_accounts(config.org_id)
    members = [m for m in call.store.list_members(call.account_id) if m.status in ASSOCIATED]
    covered = [call.account_id, *(m.account_id for m in members if m.status == "Enabled")]
    features = [f for f in (_runtime_feature(call, a) for a in covered) if f is not None]
    enabled = [f for f in features if f.get("status") == "ENABLED"]
    extra_counts = {
        name: sum(
            any(
                c.get("name") == name and c.get("status") == "ENABLED"
                for c in f.get("additionalConfiguration", [])
            )
            for f in features
        )
        for name in ADDITIONAL
    }
    return {
        "organizationDetails": {
            "updatedAt": time.time(),
            "organizationStatistics": {
                "totalAccountsCount": len(accounts),
                "memberAccountsCount": len(members),
                "activeAccountsCount": sum(m.status == "Enabled" for m in members),
                "enabledAccountsCount": len(enabled),
                "countByFeature": [
                    {
                        "name": "RUNTIME_MONITORING",
                        "enabledAccountsCount": len(enabled),
                        "additionalConfiguration": [
                            {"name": name, "enabledAccountsCount": n} for name, n in extra_counts.items()
                        ],
                    }
                ],
            },
        }
    }


def _associated(call: Call, raw: Any) -> tuple[list[str], list[dict[str, str]]]:
    require_detector(call)
    found: list[str] = []
    unprocessed: list[dict[str, str]] = []
    for account_id in account_ids(raw):
        member = call.store.get_member(call.account_id, account_id)
        if member is None or member.status not in ASSOCIATED:
            unprocessed.append(
                {"accountId": account_id, "result": "The account is not an associated member."}
            )
        else:
            found.append(account_id)
    return found, unprocessed


def get_member_detectors(call: Call) -> dict[str, Any]:
    """GetMemberDetectors: each associated member's features."""
    found, unprocessed = _associated(call, call.body.get("accountIds"))
    out = []
    for account_id in found:
        feature = _runtime_feature(call, account_id)
        out.append(
            {
                "accountId": account_id,
                "dataSources": _NO_DATA_SOURCES,
                "features": [dict(feature)] if feature else [],
            }
        )
    return {"members": out, "unprocessedAccounts": unprocessed}


def update_member_detectors(call: Call) -> dict[str, Any]:
    """UpdateMemberDetectors: set features on associated members' detectors."""
    if call.body.get("dataSources"):
        raise BadRequestError("dataSources are not supported by rtguard; use features (RUNTIME_MONITORING)")
    requests = feature_requests(call.body.get("features"))
    found, unprocessed = _associated(call, call.body.get("accountIds"))
    now = time.time()
    for account_id in found:
        for detector_id in call.store.list_detectors(account_id)[:1]:
            current = call.store.get_detector(account_id, detector_id) or {}
            features = merge_features(current.get("features", []), requests, now)
            call.store.update_detector(account_id, detector_id, DetectorChanges(features=features))
    return {"unprocessedAccounts": unprocessed}


ORG_OPERATIONS: Final[Mapping[str, Handler]] = {
    "EnableOrganizationAdminAccount": enable_admin,
    "DisableOrganizationAdminAccount": disable_admin,
    "ListOrganizationAdminAccounts": list_admins,
    "DescribeOrganizationConfiguration": describe_config,
    "UpdateOrganizationConfiguration": update_config,
    "GetOrganizationStatistics": organization_statistics,
    "GetMemberDetectors": get_member_detectors,
    "UpdateMemberDetectors": update_member_detectors,
}
