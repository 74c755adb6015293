"""Filter operations: CreateFilter, GetFilter, UpdateFilter, DeleteFilter and ListFilters, with
``findingCriteria`` checked by the same parser as ListFindings plus the filter-only ``matches``
and ``notMatches`` wildcards, ``NOOP`` or ``ARCHIVE`` actions (ARCHIVE = suppression rule) and
ranks 1..100.

Handlers validate and persist; they must not apply filters to findings (``findings.lifecycle``
does that on arrival).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.criteria import parse_filter_criteria
from rtguard.api.errors import BadRequestError
from rtguard.api.ops_common import (
    enum_value,
    epoch_seconds,
    optional_text,
    page_of,
    require_detector,
    tags_of,
)
from rtguard.store.lifecycle import DuplicateError, FilterRecord

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rtguard.api.operations import Call, Handler

__all__ = ["FILTER_OPERATIONS"]

_ACTIONS: Final = ("NOOP", "ARCHIVE")
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9._-]{3,64}$")
_MAX_FILTERS: Final = 100
_MAX_RANK: Final = 100


def _name(raw: Any) -> str:
    if not isinstance(raw, str) or not _NAME_RE.match(raw):
        raise BadRequestError(
            "the filter name must be 3 to 64 characters: letters, digits, period, underscore or dash"
        )
    return raw


def _rank(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= _MAX_RANK:
        raise BadRequestError(f"rank must be an integer from 1 to {_MAX_RANK}")
    return raw


def _criteria(raw: Any) -> dict[str, Any]:
    conditions = parse_filter_criteria(raw)
    if not conditions:
        raise BadRequestError("findingCriteria must have at least one criterion")
    assert isinstance(raw, dict)
    return raw


def _existing(call: Call, detector_id: str) -> FilterRecord:
    record = call.store.get_filter(detector_id, call.path.get("FilterName", ""))
    if record is None:
        raise BadRequestError("The request is rejected since no such resource found.")
    return record


def create_filter(call: Call) -> dict[str, Any]:
    """CreateFilter: a new named filter; without ``rank`` it goes last."""
    detector_id = require_detector(call)
    body = call.body
    name = _name(body.get("name"))
    criteria = _criteria(body.get("findingCriteria"))
    description = optional_text(body.get("description"), "description", low=0, high=512) or ""
    action = enum_value(body.get("action", "NOOP"), "action", _ACTIONS)
    rank = _rank(body.get("rank"))
    tags = tags_of(body.get("tags"))
    current = call.store.list_filters(detector_id)
    if len(current) >= _MAX_FILTERS:
        raise BadRequestError(f"a detector can have at most {_MAX_FILTERS} filters")
    if rank is None:
        rank = min(_MAX_RANK, max((f.rank for f in current), default=0) + 1)
    record = FilterRecord(
        detector_id=detector_id,
        account_id=call.account_id,
        name=name,
        description=description,
        action=action,
        rank=rank,
        criteria=criteria,
        tags=tags,
    )
    try:
        call.store.put_filter(record, new=True)
    except DuplicateError as exc:
        raise BadRequestError(f"a filter named {name!r} already exists in this detector") from exc
    return {"name": name}


def get_filter(call: Call) -> dict[str, Any]:
    """GetFilter: a filter's definition as it was saved."""
    record = _existing(call, require_detector(call))
    out: dict[str, Any] = {
        "name": record.name,
        "description": record.description,
        "action": record.action,
        "rank": record.rank,
        "findingCriteria": dict(record.criteria),
        "tags": dict(record.tags),
    }
    for key, value in (("createdAt", record.created_at), ("updatedAt", record.updated_at)):
        seconds = epoch_seconds(value)
        if seconds is not None:
            out[key] = seconds
    return out


def update_filter(call: Call) -> dict[str, Any]:
    """UpdateFilter: change description, action, rank or criteria (absent members are kept)."""
    detector_id = require_detector(call)
    record = _existing(call, detector_id)
    body = call.body
    changes: dict[str, Any] = {}
    if body.get("findingCriteria") is not None:
        changes["criteria"] = _criteria(body["findingCriteria"])
    description = optional_text(body.get("description"), "description", low=0, high=512)
    if description is not None:
        changes["description"] = description
    if body.get("action") is not None:
        changes["action"] = enum_value(body["action"], "action", _ACTIONS)
    rank = _rank(body.get("rank"))
    if rank is not None:
        changes["rank"] = rank
    call.store.put_filter(replace(record, **changes), new=False)
    return {"name": record.name}


def delete_filter(call: Call) -> dict[str, Any]:
    """DeleteFilter: remove a filter (findings it archived stay archived)."""
    detector_id = require_detector(call)
    if not call.store.delete_filter(detector_id, call.path.get("FilterName", "")):
        raise BadRequestError("The request is rejected since no such resource found.")
    return {}


def list_filters(call: Call) -> dict[str, Any]:
    """ListFilters: filter names in rank order, paged."""
    detector_id = require_detector(call)
    names = [f.name for f in call.store.list_filters(detector_id)]
    page, token = page_of(names, call.query)
    out: dict[str, Any] = {"filterNames": page}
    if token:
        out["nextToken"] = token
    return out


FILTER_OPERATIONS: Final[Mapping[str, Handler]] = {
    "CreateFilter": create_filter,
    "GetFilter": get_filter,
    "UpdateFilter": update_filter,
    "DeleteFilter": delete_filter,
    "ListFilters": list_filters,
}
