"""The findings pages of the console: the list (filters, paging), one finding's detail, and
archive / unarchive, which run the API's own ``ArchiveFindings`` / ``UnarchiveFindings`` handlers
(``api.ops_lifecycle``) with the signed-in account, so the console and the API share one
lifecycle.

Handlers read through ``data`` (the store's queries) and shape through ``present``; they must not
query, filter or change findings themselves.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from rtguard.api.errors import BadRequestError
from rtguard.api.operations import Call
from rtguard.api.ops_lifecycle import LIFECYCLE_OPERATIONS
from rtguard.console import data
from rtguard.console.auth import ConsoleError, read_form
from rtguard.console.context import PageContext
from rtguard.console.present import finding_detail, finding_row
from rtguard.console.render import link, page
from rtguard.store.stats import GroupBy

__all__ = ["add_finding_pages"]


def add_finding_pages(app: FastAPI, ctx: PageContext) -> None:
    """Add ``/findings``, ``/finding`` and ``POST /finding/archive`` to the console app."""

    @app.get("/findings")
    def findings(request: Request) -> Response:
        session = ctx.auth.session(request)
        det = ctx.detector(session)
        filters = data.parse_finding_filters(request.query_params)
        result = data.findings_page(ctx.store, det, data.finding_conditions(filters), token=filters.token)
        types = ctx.store.finding_statistics(det, [], GroupBy.FINDING_TYPE, max_results=100)
        known = sorted({str(t.get("findingType", "")) for t in types.get("groupedByFindingType", [])})
        return page(
            "findings.html",
            **ctx.frame(session, "findings", "Findings"),
            filters=filters,
            rows=[finding_row(d) for d in result.findings],
            next_link=link("/console/findings", **filters.params(token=result.next_token))
            if result.next_token
            else "",
            first_link=link("/console/findings", **filters.params()) if filters.token else "",
            types=known,
            severities=list(data.SEVERITY_FILTERS),
            statuses=list(data.STATUS_FILTERS),
            resource_fields=[(k, label) for k, (label, _) in data.RESOURCE_FIELDS.items()],
        )

    @app.get("/finding")
    def finding(request: Request) -> Response:
        session = ctx.auth.session(request)
        det = ctx.detector(session)
        doc = data.one_finding(ctx.store, det, request.query_params.get("id", ""))
        return page(
            "finding.html",
            **ctx.frame(session, "findings", "Finding"),
            f=finding_detail(doc),
            doc=doc,
            message=request.query_params.get("done", ""),
        )

    @app.post("/finding/archive")
    async def archive(request: Request) -> Response:
        session = await run_in_threadpool(ctx.auth.session, request)
        form = await read_form(request)
        ctx.auth.check_post(request, session, form)
        finding_id = form.get("id", "")
        action = form.get("action", "")
        operation = {"archive": "ArchiveFindings", "unarchive": "UnarchiveFindings"}.get(action)
        if operation is None:
            raise ConsoleError(400, "Bad request", "action must be archive or unarchive")

        def run() -> None:
            det = ctx.detector(session)
            data.one_finding(ctx.store, det, finding_id)
            call = Call(
                store=ctx.store,
                region=ctx.config.region,
                account_id=session.account_id,
                path={"DetectorId": det},
                query={},
                body={"findingIds": [finding_id]},
                hooks=ctx.hooks,
            )
            try:
                LIFECYCLE_OPERATIONS[operation](call)
            except BadRequestError as exc:
                raise ConsoleError(400, "Bad request", exc.message) from exc

        await run_in_threadpool(run)
        return RedirectResponse(link("/console/finding", id=finding_id, done=f"{action}d"), status_code=303)
