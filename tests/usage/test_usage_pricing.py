"""The tiered price per vCPU-month, hours per month and the amount format."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rtguard.usage.pricing import amount_text, blended_rate, hours_in_month, tiered_cost, vcpu_months


def _epoch(y: int, m: int, d: int = 1) -> float:
    return datetime(y, m, d, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("months", "usd"),
    [
        ("0", "0"),
        ("1", "1.50"),
        ("499.99", "749.985"),
        ("500", "750.00"),
        ("500.01", "750.0075"),
        ("4999", "4124.25"),  # 500 × 1.50 + 4,499 × 0.75
        ("5000", "4125.00"),
        ("5000.04", "4125.01"),
        ("10000", "5375.00"),
    ],
)
def test_tier_boundaries(months: str, usd: str) -> None:
    assert tiered_cost(Decimal(months)) == Decimal(usd)


def test_blended_rate_is_cost_over_months() -> None:
    assert blended_rate(Decimal(0)) == Decimal("1.50")
    assert blended_rate(Decimal(500)) == Decimal("1.50")
    assert blended_rate(Decimal(5000)) == Decimal("4125") / Decimal(5000)
    assert blended_rate(Decimal(1000)) * 1000 == tiered_cost(Decimal(1000))


def test_hours_in_month() -> None:
    assert hours_in_month(_epoch(2026, 1, 15)) == 744
    assert hours_in_month(_epoch(2026, 2, 28)) == 672
    assert hours_in_month(_epoch(2028, 2, 1)) == 696
    assert hours_in_month(_epoch(2026, 4, 30)) == 720


def test_vcpu_months_divides_by_the_month_of_the_hour() -> None:
    # One vCPU for all 744 hours of January is one vCPU-month; so is one for 720 hours of April.
    jan = sum(vcpu_months(3600.0, _epoch(2026, 1) + h * 3600) for h in range(744))
    apr = sum(vcpu_months(3600.0, _epoch(2026, 4) + h * 3600) for h in range(720))
    assert jan == pytest.approx(Decimal(1)) and apr == pytest.approx(Decimal(1))


def test_amount_text() -> None:
    assert amount_text(Decimal("1.5")) == "1.50000000"
    assert amount_text(Decimal("0.000000004")) == "0.00000000"
    assert amount_text(Decimal("4125")) == "4125.00000000"
