"""The console's usage page: monitored vCPU-hours and the estimated cost of the last 30 days by
feature, by account (an administrator also sees its Enabled members) and for the top resources,
and the free-trial days left per feature.

It asks ``usage.report`` for GetUsageStatistics' own lists over the same accounts the API
allows (``api.visibility``), so the page and ``aws guardduty get-usage-statistics`` agree; it
must not price or sum anything itself.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from rtguard.console.auth import ConsoleError
from rtguard.console.context import PageContext
from rtguard.console.render import page
from rtguard.store.usage import UsageReader
from rtguard.usage.accrual import Feature
from rtguard.usage.report import USD, VCPU_HOURS, WINDOW, UsageQuery, statistics, trial_days_remaining

__all__ = ["add_usage_pages"]

_LABELS: Final = {
    "FARGATE_RUNTIME_MONITORING": "ECS on Fargate",
    "EC2_RUNTIME_MONITORING": "EC2 (and ECS on EC2)",
    "EKS_RUNTIME_MONITORING": "EKS",
}


def _joined(hours: list[dict[str, Any]], cost: list[dict[str, Any]], key: str) -> list[tuple[str, str, str]]:
    """(key, vCPU-hours, USD) rows from the same statistic in both units."""
    usd = {str(r[key]): r["total"]["amount"] for r in cost}
    return [(str(r[key]), r["total"]["amount"], usd.get(str(r[key]), "0")) for r in hours]


def add_usage_pages(app: FastAPI, ctx: PageContext) -> None:
    """Add ``/usage`` to the console app."""

    @app.get("/usage")
    def usage(request: Request) -> Response:
        session = ctx.auth.session(request)
        ctx.detector(session)
        store = ctx.store
        if not isinstance(store, UsageReader):
            raise ConsoleError(404, "No usage", "This rtguard store does not keep usage.")
        accounts = tuple(ctx.accounts(session))
        rows = store.usage_rows(accounts, store.usage_now() - WINDOW)

        def both(statistic: str, key: str) -> list[tuple[str, str, str]]:
            hours, cost = (
                statistics(rows, UsageQuery(statistic=statistic, accounts=accounts, unit=unit))
                for unit in (VCPU_HOURS, USD)
            )
            return _joined(hours, cost, key)

        by_feature = both("SUM_BY_FEATURES", "feature")
        by_account = both("SUM_BY_ACCOUNT", "accountId")
        top = both("TOP_RESOURCES", "resource")
        now = store.usage_now()
        starts = store.trial_starts(session.account_id)
        trial = [
            (f.value, _LABELS.get(f.value, f.value), trial_days_remaining(starts.get(f.value), now))
            for f in Feature
        ]
        return page(
            "usage.html",
            **ctx.frame(session, "usage", "Usage"),
            by_feature=[(f, _LABELS.get(f, f), h, c) for f, h, c in by_feature],
            by_account=by_account,
            top=top,
            trial=trial,
            members=len(accounts) - 1,
        )
