"""Pricing, pure: monitored vCPU-hours to vCPU-months (each hour divided by the number of hours
in its UTC calendar month) and vCPU-months to US dollars with GuardDuty Runtime Monitoring's
tiered price (us-east-1, the same for ECS, EC2 and EKS): the first 500 vCPU-months at $1.50,
the next 4,500 at $0.75, everything above 5,000 at $0.25.

Decimal arithmetic throughout so tier boundaries are exact. Must not read the store or a clock.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

__all__ = ["TIERS", "amount_text", "blended_rate", "hours_in_month", "tiered_cost", "vcpu_months"]

# (vCPU-months in the tier, or None for "the rest"; USD per vCPU-month)
TIERS: Final[tuple[tuple[Decimal | None, Decimal], ...]] = (
    (Decimal(500), Decimal("1.50")),
    (Decimal(4500), Decimal("0.75")),
    (None, Decimal("0.25")),
)
_QUANTUM: Final = Decimal("0.00000001")


def hours_in_month(epoch: float) -> int:
    """Hours in the UTC calendar month containing ``epoch`` (672, 696, 720 or 744)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return calendar.monthrange(moment.year, moment.month)[1] * 24


def vcpu_months(vcpu_seconds: float, hour: float) -> Decimal:
    """vCPU-months of ``vcpu_seconds`` metered in the hour starting at ``hour``."""
    return Decimal(repr(vcpu_seconds)) / Decimal(3600) / Decimal(hours_in_month(hour))


def tiered_cost(months: Decimal) -> Decimal:
    """The price in USD of ``months`` vCPU-months, tier by tier."""
    left, cost = max(months, Decimal(0)), Decimal(0)
    for size, price in TIERS:
        take = left if size is None else min(left, size)
        cost += take * price
        left -= take
        if left <= 0:
            break
    return cost


def blended_rate(months: Decimal) -> Decimal:
    """USD per vCPU-month for a total of ``months``: ``tiered_cost(months) / months`` (the first
    tier's price when there is no usage)."""
    return TIERS[0][1] if months <= 0 else tiered_cost(months) / months


def amount_text(value: Decimal) -> str:
    """An amount as GuardDuty's ``Total.amount`` string (fixed point, 8 decimals)."""
    return format(value.quantize(_QUANTUM), "f")
