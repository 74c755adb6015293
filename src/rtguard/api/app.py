"""The GuardDuty-compatible REST API as a FastAPI router: one route per operation of the
GuardDuty service model that botocore ships (same methods, paths and JSON wire names), SigV4
authentication as a router dependency, dispatch by operation name to ``operations.IMPLEMENTED``,
and GuardDuty's error shapes for every failure, including operations not implemented yet.

The router is self-contained so the same FastAPI app can also serve agent endpoints, the console
and metrics with their own authentication. Must not hold business logic (``operations``), parse
criteria (``criteria``) or verify signatures itself (``sigv4``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from botocore.loaders import create_loader
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from rtguard.api.errors import (
    AccessDeniedError,
    ApiError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    error_response,
    new_request_id,
)
from rtguard.api.operations import IMPLEMENTED, Call, Handler
from rtguard.api.sigv4 import SignatureError, verify_request
from rtguard.findings.lifecycle import FindingHooks, FindingsLifecycle
from rtguard.store.base import Store

__all__ = ["MODEL_OPERATIONS", "build_api", "install_error_handlers", "mount_api"]

_log = logging.getLogger(__name__)
_REQUEST_ID: Final = "x-amzn-RequestId"
_MAX_BODY: Final = 1 << 20  # GuardDuty requests are small: 50 ids or 50 criteria of 50 values


@dataclass(frozen=True, slots=True)
class ModelOperation:
    """One operation of the GuardDuty service model: name, HTTP method, route path."""

    name: str
    method: str
    path: str


def _route_path(request_uri: str) -> str:
    """The service model's URI template as a Starlette path.

    Greedy labels (``{Key+}``) and ARN labels (which botocore sends with encoded slashes) take
    the rest of the path.
    """
    segments = []
    for segment in request_uri.split("?", 1)[0].split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1].rstrip("+")
            greedy = segment.endswith("+}") or name.endswith("Arn")
            segments.append(f"{{{name}:path}}" if greedy else f"{{{name}}}")
        else:
            segments.append(segment)
    return "/".join(segments)


def _specificity(op: ModelOperation) -> tuple[int, ...]:
    # Literal segments must be tried before parameters at the same position.
    return tuple(1 if s.startswith("{") else 0 for s in op.path.split("/"))


def _load_model_operations() -> tuple[ModelOperation, ...]:
    model = create_loader().load_service_model("guardduty", "service-2")
    found = [
        ModelOperation(name, spec["http"]["method"], _route_path(spec["http"]["requestUri"]))
        for name, spec in model["operations"].items()
    ]
    return tuple(sorted(found, key=lambda op: (_specificity(op), op.path, op.method)))


MODEL_OPERATIONS: Final[tuple[ModelOperation, ...]] = _load_model_operations()


def _not_implemented(name: str) -> Handler:
    def handler(_call: Call) -> dict[str, Any]:
        raise BadRequestError(f"operation {name} is not implemented by rtguard yet")

    return handler


def _json_body(raw: bytes) -> Mapping[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object")
    return body


class _GuardDutyRoute(APIRoute):
    """A route that answers every failure in GuardDuty's error shape (never a trace)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()
        operation = self.name

        async def handler(request: Request) -> Response:
            request_id = new_request_id()
            try:
                response = await inner(request)
            except ApiError as exc:
                return exc.to_response(request_id)
            except RequestValidationError:
                return BadRequestError("the request is not valid").to_response(request_id)
            except Exception:
                _log.exception("api operation failed", extra={"operation": operation})
                return InternalServerError("internal error; see the server log").to_response(request_id)
            response.headers.setdefault(_REQUEST_ID, request_id)
            return response

        return handler


async def _read_body(request: Request) -> bytes:
    # Bounded before authentication: an unsigned client must not make us buffer unlimited data.
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_BODY:
        raise BadRequestError(f"the request body is larger than {_MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY:
            raise BadRequestError(f"the request body is larger than {_MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class _Authenticator:
    store: Store
    region: str
    clock: Callable[[], datetime]

    async def __call__(self, request: Request) -> None:
        body = await _read_body(request)
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        try:
            account_id = await run_in_threadpool(
                verify_request,
                method=request.method,
                raw_path=raw_path.decode("latin-1").split("?", 1)[0],
                query_string=request.scope.get("query_string", b"").decode("latin-1"),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
                body=body,
                region=self.region,
                lookup_secret=self.store.lookup_secret,
                now=self.clock(),
            )
        except SignatureError as exc:
            raise AccessDeniedError(str(exc)) from exc
        request.state.rtguard_account_id = account_id
        request.state.rtguard_body = body


def _endpoint(
    handler: Handler, store: Store, region: str, hooks: FindingHooks | None = None
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    async def endpoint(request: Request) -> Response:
        call = Call(
            store=store,
            region=region,
            account_id=request.state.rtguard_account_id,
            path=dict(request.path_params),
            query=dict(request.query_params),
            body=_json_body(request.state.rtguard_body),
            hooks=hooks,
        )
        result = await run_in_threadpool(handler, call)
        return JSONResponse(result)

    return endpoint


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_api(
    store: Store,
    region: str,
    *,
    clock: Callable[[], datetime] = _utc_now,
    hooks: FindingHooks | None = None,
) -> APIRouter:
    """A router with every GuardDuty operation, SigV4-authenticated against ``store``'s keys.

    Args:
        store: where keys, detectors and findings live.
        region: the region this server is; credential scopes must name it.
        clock: "now" for the signature age check (tests pass a fake clock).
        hooks: suppression and publishing for findings the API creates (samples) and for
            destination changes; default: suppression only, nothing published.

    Operations without a handler answer 400 BadRequestException "operation X is not implemented
    by rtguard yet". Unknown paths are the app's business: see :func:`install_error_handlers`.
    """
    router = APIRouter(
        route_class=_GuardDutyRoute,
        dependencies=[Depends(_Authenticator(store, region, clock))],
        include_in_schema=False,
    )
    hooks = hooks or FindingsLifecycle(store)
    for op in MODEL_OPERATIONS:
        handler = IMPLEMENTED.get(op.name) or _not_implemented(op.name)
        router.add_api_route(
            op.path, _endpoint(handler, store, region, hooks), methods=[op.method], name=op.name
        )
    return router


async def _http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 404:
        return NotFoundError(f"no such path: {request.method} {request.url.path}").to_response()
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
        return error_response(
            "MethodNotAllowedException", 405, f"{request.method} is not allowed on this path"
        )
    assert isinstance(exc, StarletteHTTPException)
    return await http_exception_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Answer unknown paths (404) and wrong methods (405) with GuardDuty's JSON error shape.

    Applies to the whole app; other HTTP errors keep FastAPI's default handling.
    """
    app.add_exception_handler(StarletteHTTPException, _http_error)


def mount_api(
    app: FastAPI,
    store: Store,
    region: str,
    *,
    clock: Callable[[], datetime] = _utc_now,
    hooks: FindingHooks | None = None,
) -> None:
    """Add the GuardDuty API routes and the JSON 404/405 handlers to ``app``."""
    app.include_router(build_api(store, region, clock=clock, hooks=hooks))
    install_error_handlers(app)
