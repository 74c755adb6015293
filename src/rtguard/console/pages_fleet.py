"""The overview, coverage and agents pages of the console: findings by severity band and type,
the newest findings, agent health and every drop counted by reason (the agents' and the
server's own), coverage resources with what needs a relaunch or a redeploy, and each agent's
sensor, blind spots, counters and last heartbeat.

Handlers read through the store's statistics, agents and coverage functions and
``coverage.query``, and shape through ``present`` / ``fleet``; they must not compute coverage or
count findings themselves.
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from rtguard.console import data
from rtguard.console.auth import ConsoleError
from rtguard.console.context import PageContext
from rtguard.console.fleet import agent_row, coverage_row, drops_by_reason
from rtguard.console.present import finding_row
from rtguard.console.render import SEVERITY_BANDS, page
from rtguard.coverage.query import (
    CoverageFilter,
    CoverageQueryError,
    CoverageSort,
    page_resources,
    statistics,
)
from rtguard.store.stats import GroupBy

__all__ = ["add_fleet_pages"]

_ACTIVE: Final = data.STATUS_FILTERS["active"]
_COVERAGE_SORT: Final = CoverageSort(key="COVERAGE_STATUS", descending=True)  # UNHEALTHY first


def add_fleet_pages(app: FastAPI, ctx: PageContext) -> None:
    """Add ``/`` (overview), ``/coverage`` and ``/agents`` to the console app."""

    @app.get("/")
    def overview(request: Request) -> Response:
        session = ctx.auth.session(request)
        det = ctx.detector(session)
        counts = ctx.store.finding_statistics(det, list(_ACTIVE), None).get("countBySeverity", {})
        bands = {name: 0 for name, _, _ in SEVERITY_BANDS}
        for severity, n in counts.items():
            try:
                value = float(severity)
            except ValueError:
                continue
            bands[next(name for name, low, high in SEVERITY_BANDS if low <= value < high)] += int(n)
        by_type = ctx.store.finding_statistics(det, list(_ACTIVE), GroupBy.FINDING_TYPE, max_results=100)
        newest = data.findings_page(ctx.store, det, list(_ACTIVE), size=10)
        now = ctx.clock()
        agents = [
            agent_row(a, now=now, timeout=ctx.config.agent_timeout)
            for a in ctx.store.list_agents(session.account_id)
        ]
        coverage = statistics(ctx.store.load_coverage(det), [], ["COUNT_BY_COVERAGE_STATUS"])
        return page(
            "overview.html",
            **ctx.frame(session, "overview", "Overview"),
            bands=[(name, bands[name]) for name, _, _ in SEVERITY_BANDS],
            total=sum(bands.values()),
            by_type=by_type.get("groupedByFindingType", []),
            newest=[finding_row(d) for d in newest.findings],
            agents=agents,
            health_counts={
                h: sum(1 for a in agents if a.health == h) for h in ("reporting", "not reporting", "disabled")
            },
            drops=drops_by_reason(agents),
            dropped_total=sum(a.dropped_total for a in agents),
            coverage=coverage.get("countByCoverageStatus", {}),
            server_losses=list(ctx.server_counters()) if ctx.server_counters is not None else [],
        )

    @app.get("/coverage")
    def coverage(request: Request) -> Response:
        session = ctx.auth.session(request)
        det = ctx.detector(session)
        status = request.query_params.get("status", "")
        if status not in ("", "HEALTHY", "UNHEALTHY"):
            raise ConsoleError(400, "Bad request", "status must be HEALTHY or UNHEALTHY")
        filters = [CoverageFilter("COVERAGE_STATUS", (status,), None)] if status else []
        docs = ctx.store.load_coverage(det)
        try:
            shown, _token = page_resources(docs, filters, _COVERAGE_SORT, 10_000, None)
            stats = statistics(docs, [], ["COUNT_BY_RESOURCE_TYPE", "COUNT_BY_COVERAGE_STATUS"])
        except CoverageQueryError as exc:
            raise ConsoleError(400, "Bad request", str(exc)) from exc
        return page(
            "coverage.html",
            **ctx.frame(session, "coverage", "Coverage"),
            rows=[coverage_row(d) for d in shown],
            status_filter=status,
            by_status=stats.get("countByCoverageStatus", {}),
            by_type=stats.get("countByResourceType", {}),
            timeout=int(ctx.config.agent_timeout),
        )

    @app.get("/agents")
    def agents(request: Request) -> Response:
        session = ctx.auth.session(request)
        wanted = request.query_params.get("agent", "")
        now = ctx.clock()
        rows = [
            agent_row(a, now=now, timeout=ctx.config.agent_timeout)
            for a in ctx.store.list_agents(session.account_id)
            if not wanted or a.agent_id == wanted
        ]
        return page(
            "agents.html",
            **ctx.frame(session, "agents", "Agents"),
            rows=rows,
            wanted=wanted,
            drops=drops_by_reason(rows),
            timeout=int(ctx.config.agent_timeout),
        )
