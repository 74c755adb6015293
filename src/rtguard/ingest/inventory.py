"""``POST /agent/v1/inventory``: what the ECS controller knows of clusters (ARN, tags, container
instances, tasks without an agent as GuardDuty issue strings) and EC2 instances (id, tags), sent
with the agent token and saved for coverage and enablement.

Each report replaces the previous one of the account. Bad input gets a 4xx JSON ``message`` and
saves nothing. Must not compute coverage: it saves and rings ``on_report``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, Protocol

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

__all__ = ["InventoryStore", "build_inventory_router", "validate_inventory"]

_MAX_BODY: Final = 4 * 1024 * 1024
_MAX_ITEMS: Final = 10_000


class InventoryStore(Protocol):
    """The store methods the inventory endpoint uses."""

    def lookup_agent_token(self, token: str) -> str | None: ...

    def replace_inventory(
        self, account_id: str, kind: str, docs: Mapping[str, Mapping[str, Any]], now: float
    ) -> None: ...


def validate_inventory(body: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Clusters by ARN and instances by id from a report.

    Raises:
        ValueError: the report does not have the documented shape.
    """
    if not isinstance(body, dict):
        raise ValueError("the report must be a JSON object")
    clusters, instances = body.get("clusters", []), body.get("instances", [])
    if not isinstance(clusters, list) or not isinstance(instances, list):
        raise ValueError("clusters and instances must be lists")
    if len(clusters) + len(instances) > _MAX_ITEMS:
        raise ValueError(f"at most {_MAX_ITEMS} clusters and instances per report")
    by_arn: dict[str, dict[str, Any]] = {}
    for c in clusters:
        if (
            not isinstance(c, dict)
            or not isinstance(c.get("clusterArn"), str)
            or ":cluster/" not in c["clusterArn"]
        ):
            raise ValueError("each cluster needs a clusterArn (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)")
        for key in ("containerInstances", "issues"):
            value = c.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"cluster {c['clusterArn']}: {key} must be a list of strings")
        by_arn[c["clusterArn"]] = c
    by_id: dict[str, dict[str, Any]] = {}
    for i in instances:
        if not isinstance(i, dict) or not isinstance(i.get("instanceId"), str) or not i["instanceId"]:
            raise ValueError("each instance needs an instanceId")
        by_id[i["instanceId"]] = i
    return by_arn, by_id


def build_inventory_router(
    store: InventoryStore,
    on_report: Callable[[], None] | None = None,
    clock: Callable[[], float] | None = None,
    settings_of: Callable[[str], dict[str, bool]] | None = None,
) -> APIRouter:
    """The router with ``POST /agent/v1/inventory`` (``on_report`` runs after each saved report)
    and ``GET /agent/v1/settings`` (the account's Runtime Monitoring switches, from
    ``settings_of``, for the ECS controller)."""
    import time

    now = clock or time.time
    router = APIRouter(prefix="/agent/v1")

    def _save(authorization: str | None, raw: bytes) -> JSONResponse:
        token = authorization[7:].strip() if authorization and authorization.startswith("Bearer ") else ""
        account = store.lookup_agent_token(token) if token else None
        if account is None:
            return JSONResponse({"__type": "Unauthorized", "message": "missing or unknown agent token"}, 401)
        try:
            clusters, instances = validate_inventory(json.loads(raw))
        except (ValueError, RecursionError) as exc:
            return JSONResponse({"__type": "BadRequest", "message": str(exc)[:300]}, 400)
        moment = now()
        store.replace_inventory(account, "cluster", clusters, moment)
        store.replace_inventory(account, "instance", instances, moment)
        if on_report is not None:
            on_report()
        return JSONResponse({"clusters": len(clusters), "instances": len(instances)})

    def _settings(authorization: str | None) -> JSONResponse:
        token = authorization[7:].strip() if authorization and authorization.startswith("Bearer ") else ""
        account = store.lookup_agent_token(token) if token else None
        if account is None:
            return JSONResponse({"__type": "Unauthorized", "message": "missing or unknown agent token"}, 401)
        if settings_of is None:
            return JSONResponse({"__type": "NotFound", "message": "settings are not served here"}, 404)
        return JSONResponse(settings_of(account))

    @router.get("/settings")
    async def get_settings(authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        return await run_in_threadpool(_settings, authorization)

    @router.post("/inventory")
    async def post_inventory(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return JSONResponse(
                {"__type": "PayloadTooLarge", "message": f"body larger than {_MAX_BODY} bytes"}, 413
            )
        return await run_in_threadpool(_save, authorization, raw)

    return router
