"""The web console as an ASGI app mounted at ``/console/`` on the server: the route class that
turns every failure into a page (a refusal, a sign-in redirect, or a 500 without a trace),
sign-in and sign-out, the pages of ``pages_fleet`` and ``pages_findings``, the stylesheet, all
behind the security headers middleware; and ``mount_console`` for ``build_server``.

Must not query, compute coverage or change findings (the page modules go through the store's
and the API's own functions), and must not decide who may sign in (``auth`` does).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

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
from rtguard.console.context import ConsoleConfig, PageContext, ServerCounters
from rtguard.console.headers import SecurityHeaders
from rtguard.console.pages_findings import add_finding_pages
from rtguard.console.pages_fleet import add_fleet_pages
from rtguard.console.pages_usage import add_usage_pages
from rtguard.console.render import link, page
from rtguard.console.session import TokenSigner
from rtguard.console.throttle import FailureThrottle

if TYPE_CHECKING:
    from rtguard.findings.lifecycle import FindingHooks

__all__ = ["ConsoleConfig", "ServerCounters", "build_console", "mount_console"]

_log = logging.getLogger(__name__)


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


def build_console(
    store: data.ConsoleStore,
    config: ConsoleConfig,
    *,
    hooks: FindingHooks | None = None,
    clock: Callable[[], float] = time.time,
    server_counters: ServerCounters | None = None,
) -> SecurityHeaders:
    """The console ASGI app (mount it at ``/console``); see :func:`mount_console`."""
    auth = ConsoleAuth(
        store, TokenSigner(config.session_key or secrets.token_bytes(32)), ttl=config.session_ttl, clock=clock
    )
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.router.route_class = _ConsoleRoute
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.mount("/static", StaticFiles(packages=[("rtguard.console", "static")]), name="static")
    throttle = FailureThrottle(config.login_attempts, config.login_window)
    ctx = PageContext(
        store=store, auth=auth, config=config, hooks=hooks, clock=clock, server_counters=server_counters
    )
    add_fleet_pages(app, ctx)
    add_finding_pages(app, ctx)
    add_usage_pages(app, ctx)

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
        address = request.client.host if request.client else "unknown"
        wait = throttle.retry_after(address)
        if wait:
            raise ConsoleError(
                429,
                "Too many attempts",
                f"Too many failed sign-ins from this address; try again in {int(wait) + 1} s.",
            )
        key_id, secret = form.get("access_key_id", "").strip(), form.get("secret_access_key", "").strip()
        signed = await run_in_threadpool(auth.sign_in, key_id, secret)
        if signed is None:
            throttle.failed(address)
            _log.warning("console sign-in failed", extra={"client": address, "access_key_id": key_id[:40]})
            return login_page(
                request,
                status=401,
                error="The access key id or secret access key is not valid.",
                next_path=form.get("next", ""),
            )
        throttle.succeeded(address)
        session, token = signed
        _log.info("console sign-in", extra={"client": address, "account": session.account_id})
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
