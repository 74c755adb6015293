"""The usage operations of the GuardDuty API: GetUsageStatistics (every ``usageStatisticsType``,
``usageCriteria``, ``unit``, paging) and GetRemainingFreeTrialDays, over the usage the meter
saved in the store, for the accounts the caller may see (:func:`visible_accounts`).

Validation follows the botocore model's shapes (enums read from it) and answers
BadRequestException with a message that says what is wrong. Must not meter or price
(``rtguard.usage`` does) nor import ``operations`` at run time (it imports this).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.loaders import create_loader

from rtguard.api.criteria import parse_max_results
from rtguard.api.errors import BadRequestError
from rtguard.api.ops_common import require_detector
from rtguard.api.visibility import visible_accounts
from rtguard.store.usage import UsageReader
from rtguard.usage.accrual import MAX_RESOURCE, Feature
from rtguard.usage.report import UNITS, WINDOW, UsageQuery, statistics, trial_days_remaining

if TYPE_CHECKING:
    from rtguard.api.operations import Call, Handler

__all__ = ["USAGE_OPERATIONS", "get_remaining_free_trial_days", "get_usage_statistics"]

_ACCOUNT_RE: Final = re.compile(r"[0-9]{12}")
_MAX_ACCOUNTS: Final = 50
_MAX_RESOURCES: Final = 1000
_NOT_VISIBLE: Final = (
    "The request is rejected because the current account cannot access usage of account(s) {ids}: "
    "only its own usage and, for an administrator, its Enabled members' can be requested."
)


@functools.cache
def _enum(shape: str) -> tuple[str, ...]:
    model = create_loader().load_service_model("guardduty", "service-2")
    return tuple(model["shapes"][shape]["enum"])


def _reader(call: Call) -> UsageReader:
    if not isinstance(call.store, UsageReader):
        raise BadRequestError("this rtguard store does not keep usage")
    return call.store


def _account_ids(raw: Any, name: str) -> list[str]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= _MAX_ACCOUNTS:
        raise BadRequestError(f"{name} must be a list of 1 to {_MAX_ACCOUNTS} account IDs")
    for item in raw:
        if not isinstance(item, str) or not _ACCOUNT_RE.fullmatch(item):
            raise BadRequestError(f"{name}: {str(item)[:40]!r} is not a 12-digit account ID")
    return list(dict.fromkeys(raw))


def _enum_list(raw: Any, name: str, shape: str) -> frozenset[str] | None:
    if raw is None:
        return None
    allowed = _enum(shape)
    if not isinstance(raw, list):
        raise BadRequestError(f"{name} must be a list of {', '.join(allowed)}")
    for item in raw:
        if item not in allowed:
            raise BadRequestError(f"{name}: {str(item)[:64]!r} is not one of {', '.join(allowed)}")
    return frozenset(raw) or None


def _resources(raw: Any) -> frozenset[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > _MAX_RESOURCES:
        raise BadRequestError(f"resources must be a list of at most {_MAX_RESOURCES} resource names")
    for item in raw:
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_RESOURCE:
            raise BadRequestError(
                f"resources: each entry must be a resource name of 1 to {MAX_RESOURCE} characters"
            )
    return frozenset(raw) or None


def _query(call: Call) -> UsageQuery:
    statistic = call.body.get("usageStatisticsType")
    types = _enum("UsageStatisticType")
    if statistic not in types:
        shown = "missing" if statistic is None else repr(str(statistic)[:64])
        raise BadRequestError(f"usageStatisticsType is {shown}; it must be one of {', '.join(types)}")
    criteria = call.body.get("usageCriteria")
    if not isinstance(criteria, Mapping):
        raise BadRequestError(
            "usageCriteria is required and must be an object (accountIds, features, resources)"
        )
    unknown = sorted(set(criteria) - {"accountIds", "dataSources", "features", "resources"})
    if unknown:
        raise BadRequestError(f"usageCriteria has unknown key(s) {', '.join(repr(k[:40]) for k in unknown)}")
    visible = visible_accounts(call)
    accounts = visible
    if criteria.get("accountIds") is not None:
        accounts = _account_ids(criteria["accountIds"], "usageCriteria.accountIds")
        hidden = [a for a in accounts if a not in visible]
        if hidden:
            raise BadRequestError(_NOT_VISIBLE.format(ids=", ".join(hidden)))
    unit = call.body.get("unit")
    if unit is not None and unit not in UNITS:
        raise BadRequestError(f"unit must be USD (or rtguard's VCPU_HOURS), not {str(unit)[:32]!r}")
    return UsageQuery(
        statistic=str(statistic),
        accounts=tuple(accounts),
        features=_enum_list(criteria.get("features"), "usageCriteria.features", "UsageFeature"),
        data_sources=_enum_list(criteria.get("dataSources"), "usageCriteria.dataSources", "DataSource"),
        resources=_resources(criteria.get("resources")),
        unit=str(unit or "USD"),
    )


def _token(statistic: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"usage:{statistic}:{offset}".encode()).decode()


def _offset(raw: Any, statistic: str, size: int) -> int:
    if raw is None or raw == "":
        return 0
    if not isinstance(raw, str) or len(raw) > 200:
        raise BadRequestError("nextToken must be a token from a previous GetUsageStatistics answer")
    try:
        kind, name, number = base64.urlsafe_b64decode(raw.encode()).decode().split(":")
        offset = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError("the nextToken is not valid") from exc
    if kind != "usage" or name != statistic or offset <= 0:
        raise BadRequestError("the nextToken is not valid for this usageStatisticsType")
    return min(offset, size)  # the 30-day window moved on since: past the end is an empty page


_RESULT_KEY: Final = {
    "SUM_BY_ACCOUNT": "sumByAccount",
    "SUM_BY_DATA_SOURCE": "sumByDataSource",
    "SUM_BY_RESOURCE": "sumByResource",
    "TOP_RESOURCES": "topResources",
    "SUM_BY_FEATURES": "sumByFeature",
    "TOP_ACCOUNTS_BY_FEATURE": "topAccountsByFeature",
}


def get_usage_statistics(call: Call) -> dict[str, Any]:
    """GetUsageStatistics: usage of the last 30 days, summed or ranked as asked, paged."""
    require_detector(call)
    query = _query(call)
    limit = parse_max_results(call.body.get("maxResults"), default=50, upper=50)
    reader = _reader(call)
    rows = reader.usage_rows(query.accounts, reader.usage_now() - WINDOW)
    results = statistics(rows, query)
    start = _offset(call.body.get("nextToken"), query.statistic, len(results))
    page = results[start : start + limit]
    body: dict[str, Any] = {"usageStatistics": {_RESULT_KEY[query.statistic]: page}}
    if start + limit < len(results):
        body["nextToken"] = _token(query.statistic, start + limit)
    return body


def get_remaining_free_trial_days(call: Call) -> dict[str, Any]:
    """GetRemainingFreeTrialDays: days left per runtime feature for each requested account the
    caller may see; the others are listed as unprocessed with the reason."""
    require_detector(call)
    ids = _account_ids(call.body.get("accountIds"), "accountIds")
    visible = set(visible_accounts(call))
    reader = _reader(call)
    now = reader.usage_now()
    accounts: list[dict[str, Any]] = []
    unprocessed: list[dict[str, str]] = []
    for account_id in ids:
        if account_id not in visible:
            unprocessed.append({"accountId": account_id, "result": _NOT_VISIBLE.format(ids=account_id)})
            continue
        starts = reader.trial_starts(account_id)
        features = [
            {"name": f.value, "freeTrialDaysRemaining": trial_days_remaining(starts.get(f.value), now)}
            for f in Feature
        ]
        accounts.append({"accountId": account_id, "features": features})
    return {"accounts": accounts, "unprocessedAccounts": unprocessed}


USAGE_OPERATIONS: Final[Mapping[str, Handler]] = {
    "GetUsageStatistics": get_usage_statistics,
    "GetRemainingFreeTrialDays": get_remaining_free_trial_days,
}
