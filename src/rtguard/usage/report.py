"""Usage statistics, pure: stored hourly usage rows in, GuardDuty ``UsageStatistics`` lists out
(``sumByAccount``, ``sumByFeature``, ``sumByResource``, ``topResources``,
``topAccountsByFeature``, ``sumByDataSource``), in US dollars or, as an rtguard extension, in
vCPU-hours; plus the free-trial days left.

How a dollar amount is made: each row's vCPU-hours become vCPU-months (÷ hours in the row's UTC
month); each account's vCPU-months over the window (every feature and resource of it, whatever
the criteria select) are priced with the tiers (``pricing``), giving the account's blended rate
(cost ÷ vCPU-months); every row of the account costs its vCPU-months × that rate; totals are
sums of rows. So the per-feature, per-resource and per-account views of one account always add
up to the same bill, and a filter never changes a resource's price. Must not read the store, a
clock or HTTP input (``api.ops_usage`` validates and calls this).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from rtguard.store.usage import UsageRow
from rtguard.usage.accrual import Feature
from rtguard.usage.pricing import amount_text, blended_rate, vcpu_months

__all__ = [
    "DAY",
    "TOP",
    "TRIAL_DAYS",
    "UNITS",
    "WINDOW",
    "UsageQuery",
    "statistics",
    "trial_days_remaining",
]

DAY: Final = 86_400.0
WINDOW: Final = 30 * DAY  # GetUsageStatistics covers the last 30 days
TRIAL_DAYS: Final = 30
TOP: Final = 50
USD: Final = "USD"
VCPU_HOURS: Final = "VCPU_HOURS"  # rtguard's extension of ``unit``
UNITS: Final = (USD, VCPU_HOURS)
_RUNTIME: Final = tuple(f.value for f in Feature)


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageQuery:
    """A validated GetUsageStatistics request.

    ``accounts`` are the accounts to report (already limited to what the caller may see);
    ``features``, ``data_sources`` and ``resources`` are None when the criteria do not name them.
    """

    statistic: str
    accounts: tuple[str, ...]
    features: frozenset[str] | None = None
    data_sources: frozenset[str] | None = None
    resources: frozenset[str] | None = None
    unit: str = USD


def _selected_features(query: UsageQuery) -> frozenset[str]:
    if query.features is not None:
        return query.features & frozenset(_RUNTIME)
    if query.data_sources is not None:
        # Legacy data sources (flow logs, DNS logs, ...) are not Runtime Monitoring: nothing of ours.
        return frozenset()
    return frozenset(_RUNTIME)


def _values(rows: Sequence[UsageRow], query: UsageQuery) -> list[tuple[UsageRow, Decimal]]:
    """The selected rows with their value in the query's unit."""
    months = [vcpu_months(r.vcpu_seconds, r.hour) for r in rows]
    per_account: dict[str, Decimal] = defaultdict(Decimal)
    for row, m in zip(rows, months, strict=True):
        per_account[row.account_id] += m
    rates = {account: blended_rate(total) for account, total in per_account.items()}
    features = _selected_features(query)
    accounts = set(query.accounts)
    out: list[tuple[UsageRow, Decimal]] = []
    for row, m in zip(rows, months, strict=True):
        if row.account_id not in accounts or row.feature not in features:
            continue
        if query.resources is not None and row.resource not in query.resources:
            continue
        value = m * rates[row.account_id] if query.unit == USD else Decimal(repr(row.vcpu_seconds)) / 3600
        out.append((row, value))
    return out


def _total(value: Decimal, unit: str) -> dict[str, str]:
    return {"amount": amount_text(value), "unit": unit}


def _sums(items: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for key, value in items:
        sums[key] += value
    return sums


def _top(sums: dict[str, Decimal]) -> list[tuple[str, Decimal]]:
    return sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]


def statistics(rows: Sequence[UsageRow], query: UsageQuery) -> list[dict[str, Any]]:
    """The result list of ``query.statistic`` (unpaged) over ``rows``, which must hold every row
    of the window for each account in ``query.accounts`` (the price depends on all of them)."""
    values = _values(rows, query)
    unit = query.unit
    match query.statistic:
        case "SUM_BY_ACCOUNT":
            sums = _sums((r.account_id, v) for r, v in values)
            return [
                {"accountId": a, "total": _total(sums.get(a, Decimal(0)), unit)}
                for a in sorted(query.accounts)
            ]
        case "SUM_BY_FEATURES":
            sums = _sums((r.feature, v) for r, v in values)
            shown = set(sums) | (set(query.features or ()) & set(_RUNTIME))
            return [{"feature": f, "total": _total(sums.get(f, Decimal(0)), unit)} for f in sorted(shown)]
        case "SUM_BY_RESOURCE":
            sums = _sums((r.resource, v) for r, v in values)
            return [{"resource": k, "total": _total(v, unit)} for k, v in sorted(sums.items())]
        case "TOP_RESOURCES":
            sums = _sums((r.resource, v) for r, v in values)
            return [{"resource": k, "total": _total(v, unit)} for k, v in _top(sums)]
        case "TOP_ACCOUNTS_BY_FEATURE":
            by_feature: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
            for r, v in values:
                by_feature[r.feature].append((r.account_id, v))
            return [
                {
                    "feature": feature,
                    "accounts": [{"accountId": a, "total": _total(v, unit)} for a, v in _top(_sums(pairs))],
                }
                for feature, pairs in sorted(by_feature.items())
            ]
        case "SUM_BY_DATA_SOURCE":
            return []  # Runtime Monitoring is a feature, not a legacy data source
        case _:
            raise ValueError(f"unknown usage statistic type {query.statistic!r}")


def trial_days_remaining(started: float | None, now: float) -> int:
    """Free-trial days left: 30 before the trial started, then 30 days from ``started`` counted
    in whole days rounded up (29.2 days left shows 30; the last partial day shows 1), never
    below 0 or above 30."""
    if started is None:
        return TRIAL_DAYS
    left = math.ceil((started + TRIAL_DAYS * DAY - now) / DAY)
    return max(0, min(TRIAL_DAYS, left))
