"""Validation helpers shared by the lifecycle operation modules (``ops_*``): detector ownership,
finding id lists, names, tags, enums, epoch timestamps and name/id paging, each raising
``BadRequestError`` with GuardDuty's wording or a message that says what is wrong.

Pure apart from the detector look-up through the call's store; must not implement operations.
``operations`` imports the ``ops_*`` modules, so they (and this) import it for types only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.criteria import parse_max_results
from rtguard.api.errors import BadRequestError
from rtguard.store.query import iso_to_ms

if TYPE_CHECKING:
    from rtguard.api.operations import Call

__all__ = [
    "NOT_OWNED",
    "enum_value",
    "epoch_seconds",
    "finding_ids",
    "optional_text",
    "page_of",
    "require_detector",
    "tags_of",
]

NOT_OWNED: Final = "The request is rejected because the input detectorId is not owned by the current account."
_MAX_IDS: Final = 50
_MAX_TAGS: Final = 50
_TAG_KEY_RE: Final = re.compile(r"^(?!aws:)[\w.:/=+@ -]{1,128}$")


def require_detector(call: Call) -> str:
    """The path's detector id, if the calling account owns it."""
    detector_id = call.path.get("DetectorId", "")
    if call.store.get_detector(call.account_id, detector_id) is None:
        raise BadRequestError(NOT_OWNED)
    return detector_id


def finding_ids(raw: Any, *, name: str = "findingIds", allow_empty: bool = True) -> list[str]:
    """A ``findingIds`` list: strings of 1..300 characters, at most 50."""
    if not isinstance(raw, list) or not all(isinstance(i, str) and 1 <= len(i) <= 300 for i in raw):
        raise BadRequestError(f"{name} must be a list of finding id strings")
    if len(raw) > _MAX_IDS:
        raise BadRequestError(f"{name} has {len(raw)} ids; at most {_MAX_IDS} are allowed")
    if not raw and not allow_empty:
        raise BadRequestError(f"{name} must not be empty")
    return list(dict.fromkeys(raw))


def optional_text(raw: Any, name: str, *, low: int, high: int) -> str | None:
    """None when absent, else a string of ``low``..``high`` characters."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not low <= len(raw) <= high:
        raise BadRequestError(f"{name} must be a string of {low} to {high} characters")
    return raw


def enum_value(raw: Any, name: str, allowed: Sequence[str]) -> str:
    """``raw`` if it is one of ``allowed``."""
    if raw not in allowed:
        raise BadRequestError(f"{name} must be one of {', '.join(allowed)}")
    return str(raw)


def tags_of(raw: Any) -> dict[str, str]:
    """A ``tags`` map: at most 50, keys 1..128 characters (not ``aws:``), values up to 256."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > _MAX_TAGS:
        raise BadRequestError(f"tags must be a map of at most {_MAX_TAGS} entries")
    for key, value in raw.items():
        if not isinstance(key, str) or not _TAG_KEY_RE.match(key):
            raise BadRequestError(f"invalid tag key {str(key)[:130]!r}")
        if not isinstance(value, str) or len(value) > 256:
            raise BadRequestError(f"tag {key!r}: the value must be a string of at most 256 characters")
    return dict(raw)


def epoch_seconds(iso: str) -> float | None:
    """Epoch seconds of stored ISO text (rest-json timestamps), None when unreadable."""
    ms = iso_to_ms(iso) if iso else None
    return None if ms is None else ms / 1000.0


def page_of(
    keys: Sequence[str], query: Mapping[str, str], *, upper: int = 50
) -> tuple[list[str], str | None]:
    """One page of ``keys`` (already ordered) by ``maxResults``/``nextToken`` query parameters;
    the token is the last key returned."""
    limit = parse_max_results(query.get("maxResults"), default=upper, upper=upper)
    start = 0
    token = query.get("nextToken")
    if token:
        if token not in keys:
            raise BadRequestError("the nextToken is not valid")
        start = list(keys).index(token) + 1
    page = list(keys[start : start + limit])
    return page, (page[-1] if start + limit < len(keys) and page else None)
