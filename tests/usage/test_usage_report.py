"""GetUsageStatistics' lists from stored rows, without HTTP: the tier allocation (per-account
blended rate, filters never change a price), TOP_* limits, and the free-trial day count."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rtguard.store.usage import UsageRow
from rtguard.usage.report import DAY, UsageQuery, statistics, trial_days_remaining

A, B = "111111111111", "222222222222"
MARCH = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
MONTH_S = 744 * 3600  # vCPU-seconds of one vCPU-month in March


def row(
    resource: str, months: float, *, account: str = A, feature: str = "EC2_RUNTIME_MONITORING"
) -> UsageRow:
    return UsageRow(
        account_id=account, feature=feature, resource=resource, hour=MARCH, vcpu_seconds=months * MONTH_S
    )


def amounts(result: list[dict[str, object]], key: str) -> dict[str, Decimal]:
    return {str(r[key]): Decimal(str(r["total"]["amount"])) for r in result}  # type: ignore[index]


@pytest.mark.parametrize(
    ("months", "cost"),
    [
        (500, Decimal(750)),
        (5000, Decimal(750) + Decimal(4500) * Decimal("0.75")),
        (6000, Decimal(750) + Decimal(3375) + Decimal(250)),
    ],
)
def test_account_total_follows_the_tiers_at_500_and_5000(months: int, cost: Decimal) -> None:
    rows = [row("i-1", months * 0.25), row("i-2", months * 0.75, feature="EKS_RUNTIME_MONITORING")]
    total = amounts(statistics(rows, UsageQuery(statistic="SUM_BY_ACCOUNT", accounts=(A,))), "accountId")
    assert total[A] == cost
    # Every resource pays the same blended rate, so the parts add up to the account's bill.
    parts = amounts(statistics(rows, UsageQuery(statistic="SUM_BY_RESOURCE", accounts=(A,))), "resource")
    assert sum(parts.values()) == cost
    assert parts["i-2"] == pytest.approx(3 * parts["i-1"], abs=Decimal("0.00000002"))


def test_filters_select_lines_but_never_change_their_price() -> None:
    rows = [row("i-1", 4000), row("i-2", 2000, feature="EKS_RUNTIME_MONITORING")]
    every = amounts(statistics(rows, UsageQuery(statistic="SUM_BY_FEATURES", accounts=(A,))), "feature")
    eks_only = UsageQuery(
        statistic="SUM_BY_FEATURES", accounts=(A,), features=frozenset({"EKS_RUNTIME_MONITORING"})
    )
    assert amounts(statistics(rows, eks_only), "feature") == {
        "EKS_RUNTIME_MONITORING": every["EKS_RUNTIME_MONITORING"]
    }
    by_name = UsageQuery(statistic="SUM_BY_RESOURCE", accounts=(A,), resources=frozenset({"i-1"}))
    assert list(amounts(statistics(rows, by_name), "resource")) == ["i-1"]


def test_each_account_is_priced_on_its_own_usage() -> None:
    rows = [row("i-a", 600), row("i-b", 100, account=B)]
    query = UsageQuery(statistic="SUM_BY_ACCOUNT", accounts=(A, B))
    got = amounts(statistics(rows, query), "accountId")
    assert got == {A: Decimal(750) + Decimal(75), B: Decimal(150)}
    only_b = amounts(statistics(rows, UsageQuery(statistic="SUM_BY_ACCOUNT", accounts=(B,))), "accountId")
    assert only_b == {B: Decimal(150)}


def test_vcpu_hours_unit_and_top_lists_are_capped_at_50() -> None:
    rows = [row(f"i-{n:03d}", (n + 1) / 1000) for n in range(60)]
    query = UsageQuery(statistic="TOP_RESOURCES", accounts=(A,), unit="VCPU_HOURS")
    top = statistics(rows, query)
    assert len(top) == 50 and top[0]["resource"] == "i-059" and top[-1]["resource"] == "i-010"
    assert top[0]["total"] == {"amount": format(Decimal("0.06") * 744, ".8f"), "unit": "VCPU_HOURS"}
    accounts = statistics(rows, UsageQuery(statistic="TOP_ACCOUNTS_BY_FEATURE", accounts=(A,)))
    assert [(r["feature"], len(r["accounts"])) for r in accounts] == [("EC2_RUNTIME_MONITORING", 1)]
    assert statistics(rows, UsageQuery(statistic="SUM_BY_DATA_SOURCE", accounts=(A,))) == []
    with pytest.raises(ValueError, match="unknown usage statistic"):
        statistics(rows, UsageQuery(statistic="SUM_BY_COLOUR", accounts=(A,)))


def test_account_without_usage_shows_zero_and_requested_features_are_listed() -> None:
    query = UsageQuery(statistic="SUM_BY_ACCOUNT", accounts=(A,))
    assert statistics([], query) == [{"accountId": A, "total": {"amount": "0.00000000", "unit": "USD"}}]
    asked = UsageQuery(
        statistic="SUM_BY_FEATURES",
        accounts=(A,),
        features=frozenset({"FARGATE_RUNTIME_MONITORING", "FLOW_LOGS"}),
    )
    assert [r["feature"] for r in statistics([], asked)] == ["FARGATE_RUNTIME_MONITORING"]


def test_trial_days_remaining() -> None:
    start = MARCH
    assert trial_days_remaining(None, start) == 30
    assert trial_days_remaining(start, start) == 30
    assert trial_days_remaining(start, start + 1) == 30  # 29.99 days left
    assert trial_days_remaining(start, start + DAY) == 29
    assert trial_days_remaining(start, start + 29.5 * DAY) == 1
    assert trial_days_remaining(start, start + 30 * DAY) == 0
    assert trial_days_remaining(start, start + 400 * DAY) == 0
    assert trial_days_remaining(start, start - 5 * DAY) == 30  # a clock behind the start
