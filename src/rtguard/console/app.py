"""The web console as an ASGI app mounted at ``/console/`` on the server: sign-in and sign-out,
the overview, findings list and detail (archive / unarchive through the API's own
``ArchiveFindings`` / ``UnarchiveFindings`` handlers), coverage and agents pages, and its
stylesheet, all behind the security headers middleware.

Routes only wire requests to ``auth`` (who is asking), ``data`` (the store's queries), ``present``
(display shapes) and ``render`` (templates); every failure becomes an HTML page with a clear
message, never a trace. Must not query, compute coverage or change findings by itself.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from rtguard.api.errors import BadRequestError
from rtguard.api.operations import Call
from rtguard.api.ops_lifecycle import LIFECYCLE_OPERATIONS
from rtguard.console import data
from rtguard.console.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    ConsoleAuth,
    ConsoleError,
    LoginRequired,
    clear_cookie,
    read_form,
    safe_next,
    set_cookie,
)
from rtguard.console.fleet import agent_row, coverage_row, drops_by_reason
from rtguard.console.headers import SecurityHeaders
from rtguard.console.present import finding_detail, finding_row
from rtguard.console.render import SEVERITY_BANDS, link, page
from rtguard.console.session import Session, TokenSigner
from rtguard.coverage.query import (
    CoverageFilter,
    CoverageQueryError,
    CoverageSort,
    page_resources,
    statistics,
)
from rtguard.store.stats import GroupBy

if TYPE_CHECKING:
    from rtguard.findings.lifecycle import FindingHooks

__all__ = ["ConsoleConfig", "ServerCounters", "build_console", "mount_console"]

_log = logging.getLogger(__name__)
_ACTIVE: Final = data.STATUS_FILTERS["active"]
_COVERAGE_SORT: Final = CoverageSort(key="COVERAGE_STATUS", descending=True)  # UNHEALTHY first


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleConfig:
    """Console settings, built by the server."""

    region: str
    agent_timeout: float = 60.0  # the coverage monitor's: an agent older than this is not reporting
    session_ttl: float = 8 * 3600.0
    session_key: bytes | None = None  # None: a random key per process (sessions end at restart)


class _ConsoleRoute(APIRoute):
    """A route whose failures become console pages: a refusal, a sign-in redirect or a 500."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except LoginRequired as exc:
                target = link(
                    "/console/login", next=safe_next(exc.next_path), reason="expired" if exc.reason else ""
                )
                response: Response = RedirectResponse(target, status_code=303)
                if exc.reason:
                    clear_cookie(response, request, SESSION_COOKIE)
                return response
            except ConsoleError as exc:
                return _error_page(exc.status, exc.title, exc.message)
            except Exception:
                _log.exception("console page failed", extra={"path": request.url.path})
                return _error_page(
                    500, "Internal error", "The console could not show this page; see the server log."
                )

        return handler


def _error_page(status: int, title: str, message: str) -> Response:
    return page("error.html", status, title=title, message=message, session=None, nav="")


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return _error_page(405, "Method not allowed", "This page cannot be used that way.")
    return _error_page(404, "Not found", "There is no such console page.")


# Server-wide loss counters the server hands in: (what, reason, count), e.g. ("ingest", "rejected_invalid", 2).
ServerCounters = Callable[[], Sequence[tuple[str, str, int]]]


def build_console(
    store: data.ConsoleStore,
    config: ConsoleConfig,
    *,
    hooks: FindingHooks | None = None,
    clock: Callable[[], float] = time.time,
    server_counters: ServerCounters | None = None,
) -> Any:
    """The console ASGI app (mount it at ``/console``); see :func:`mount_console`."""
    auth = ConsoleAuth(
        store, TokenSigner(config.session_key or secrets.token_bytes(32)), ttl=config.session_ttl, clock=clock
    )
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.router.route_class = _ConsoleRoute
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.mount("/static", StaticFiles(packages=[("rtguard.console", "static")]), name="static")

    def detector(session: Session) -> str:
        found = data.detector_of(store, session.account_id)
        if found is None:
            raise ConsoleError(
                404, "No detector", "This account has no detector; create one with CreateDetector."
            )
        return found

    def base(session: Session, nav: str, title: str) -> dict[str, Any]:
        return {"session": session, "nav": nav, "title": title}

    # -- sign-in ------------------------------------------------------------------------------------

    def login_page(request: Request, *, status: int = 200, error: str = "", next_path: str = "") -> Response:
        nonce, ticket = auth.login_ticket()
        notice = (
            "Your session has ended; sign in again."
            if request.query_params.get("reason") == "expired"
            else ""
        )
        response = page(
            "login.html",
            status,
            title="Sign in",
            session=None,
            nav="",
            csrf=nonce,
            error=error,
            notice=notice,
            next_path=safe_next(next_path or request.query_params.get("next")),
        )
        set_cookie(response, request, LOGIN_COOKIE, ticket, 15 * 60)
        return response

    @app.get("/login")
    def login_form(request: Request) -> Response:
        return login_page(request)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        auth.check_login_ticket(request, form)
        key_id, secret = form.get("access_key_id", "").strip(), form.get("secret_access_key", "").strip()
        signed = await run_in_threadpool(auth.sign_in, key_id, secret)
        if signed is None:
            return login_page(
                request,
                status=401,
                error="The access key id or secret access key is not valid.",
                next_path=form.get("next", ""),
            )
        _session, token = signed
        response = RedirectResponse(safe_next(form.get("next")), status_code=303)
        set_cookie(response, request, SESSION_COOKIE, token, auth.ttl)
        clear_cookie(response, request, LOGIN_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session = await run_in_threadpool(auth.session, request)
        auth.check_post(request, session, await read_form(request))
        auth.revoke(session)
        response = RedirectResponse("/console/login", status_code=303)
        clear_cookie(response, request, SESSION_COOKIE)
        return response

    # -- overview -----------------------------------------------------------------------------------

    @app.get("/")
    def overview(request: Request) -> Response:
        session = auth.session(request)
        det = detector(session)
        counts = store.finding_statistics(det, list(_ACTIVE), None).get("countBySeverity", {})
        bands = {name: 0 for name, _, _ in SEVERITY_BANDS}
        for severity, n in counts.items():
            try:
                value = float(severity)
            except ValueError:
                continue
            bands[next(name for name, low, high in SEVERITY_BANDS if low <= value < high)] += int(n)
        by_type = store.finding_statistics(det, list(_ACTIVE), GroupBy.FINDING_TYPE, max_results=100)
        newest = data.findings_page(store, det, list(_ACTIVE), size=10)
        now = clock()
        agents = [
            agent_row(a, now=now, timeout=config.agent_timeout) for a in store.list_agents(session.account_id)
        ]
        coverage = statistics(store.load_coverage(det), [], ["COUNT_BY_COVERAGE_STATUS"])
        return page(
            "overview.html",
            **base(session, "overview", "Overview"),
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
            server_losses=list(server_counters()) if server_counters is not None else [],
        )

    # -- findings -----------------------------------------------------------------------------------

    @app.get("/findings")
    def findings(request: Request) -> Response:
        session = auth.session(request)
        det = detector(session)
        filters = data.parse_finding_filters(request.query_params)
        result = data.findings_page(store, det, data.finding_conditions(filters), token=filters.token)
        types = store.finding_statistics(det, [], GroupBy.FINDING_TYPE, max_results=100)
        known = sorted({str(t.get("findingType", "")) for t in types.get("groupedByFindingType", [])})
        return page(
            "findings.html",
            **base(session, "findings", "Findings"),
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
        session = auth.session(request)
        det = detector(session)
        doc = data.one_finding(store, det, request.query_params.get("id", ""))
        return page(
            "finding.html",
            **base(session, "findings", "Finding"),
            f=finding_detail(doc),
            doc=doc,
            message=request.query_params.get("done", ""),
        )

    @app.post("/finding/archive")
    async def archive(request: Request) -> Response:
        session = await run_in_threadpool(auth.session, request)
        form = await read_form(request)
        auth.check_post(request, session, form)
        finding_id = form.get("id", "")
        action = form.get("action", "")
        operation = {"archive": "ArchiveFindings", "unarchive": "UnarchiveFindings"}.get(action)
        if operation is None:
            raise ConsoleError(400, "Bad request", "action must be archive or unarchive")

        def run() -> None:
            det = detector(session)
            data.one_finding(store, det, finding_id)
            call = Call(
                store=store,
                region=config.region,
                account_id=session.account_id,
                path={"DetectorId": det},
                query={},
                body={"findingIds": [finding_id]},
                hooks=hooks,
            )
            try:
                LIFECYCLE_OPERATIONS[operation](call)
            except BadRequestError as exc:
                raise ConsoleError(400, "Bad request", exc.message) from exc

        await run_in_threadpool(run)
        return RedirectResponse(link("/console/finding", id=finding_id, done=f"{action}d"), status_code=303)

    # -- coverage and agents ------------------------------------------------------------------------

    @app.get("/coverage")
    def coverage(request: Request) -> Response:
        session = auth.session(request)
        det = detector(session)
        status = request.query_params.get("status", "")
        if status not in ("", "HEALTHY", "UNHEALTHY"):
            raise ConsoleError(400, "Bad request", "status must be HEALTHY or UNHEALTHY")
        filters = [CoverageFilter("COVERAGE_STATUS", (status,), None)] if status else []
        docs = store.load_coverage(det)
        try:
            shown, _token = page_resources(docs, filters, _COVERAGE_SORT, 10_000, None)
            stats = statistics(docs, [], ["COUNT_BY_RESOURCE_TYPE", "COUNT_BY_COVERAGE_STATUS"])
        except CoverageQueryError as exc:
            raise ConsoleError(400, "Bad request", str(exc)) from exc
        return page(
            "coverage.html",
            **base(session, "coverage", "Coverage"),
            rows=[coverage_row(d) for d in shown],
            status_filter=status,
            by_status=stats.get("countByCoverageStatus", {}),
            by_type=stats.get("countByResourceType", {}),
            timeout=int(config.agent_timeout),
        )

    @app.get("/agents")
    def agents(request: Request) -> Response:
        session = auth.session(request)
        wanted = request.query_params.get("agent", "")
        now = clock()
        rows = [
            agent_row(a, now=now, timeout=config.agent_timeout)
            for a in store.list_agents(session.account_id)
            if not wanted or a.agent_id == wanted
        ]
        return page(
            "agents.html",
            **base(session, "agents", "Agents"),
            rows=rows,
            wanted=wanted,
            drops=drops_by_reason(rows),
            timeout=int(config.agent_timeout),
        )

    return SecurityHeaders(app)


def mount_console(
    app: FastAPI,
    store: data.ConsoleStore,
    config: ConsoleConfig,
    *,
    hooks: FindingHooks | None = None,
    clock: Callable[[], float] = time.time,
    server_counters: ServerCounters | None = None,
) -> None:
    """Serve the console at ``/console/`` on ``app`` (and redirect ``/console`` there).

    Args:
        hooks: the findings lifecycle the API's archive handlers get.
        clock: "now" in epoch seconds (session expiry, agent health).
        server_counters: the server's own loss counters (ingest rejections, events detection
            could not process), shown on the overview; server-wide, as on ``/metrics``.
    """

    @app.get("/console", include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    console = build_console(store, config, hooks=hooks, clock=clock, server_counters=server_counters)
    app.mount("/console", console, name="console")
