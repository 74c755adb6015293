"""Finding queries as data: conditions on dotted paths into GuardDuty-shaped finding documents,
sort keys, and opaque keyset page tokens, with pure functions that evaluate them.

This is the one definition of what ``ListFindings`` criteria *mean* (Eq/Neq on strings, numbers,
booleans and timestamps; ranges on numbers and on timestamps as epoch milliseconds; "any element
matches" across lists). Stores may push some conditions down into SQL for speed, but must re-check
every document with :func:`matches` so results never depend on the backend. Pure: no I/O, no
knowledge of the HTTP wire names (``api.criteria`` translates those).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "Condition",
    "FindingPage",
    "InvalidPageTokenError",
    "Op",
    "Scope",
    "SortSpec",
    "decode_token",
    "encode_token",
    "iso_to_ms",
    "matches",
    "page_after",
    "scope_ids",
    "scope_key",
    "sort_docs",
    "sort_key",
    "values_at",
    "wildcard",
]

Scope = str | tuple[str, ...]
"""The detectors a finding query covers: one detector id, or several (an administrator's view of its
own detector and its members')."""


def scope_ids(scope: Scope) -> tuple[str, ...]:
    """The detector ids of a scope."""
    return (scope,) if isinstance(scope, str) else scope


def scope_key(scope: Scope) -> str:
    """The scope as one string, for page-token fingerprints (a token is only valid for its scope)."""
    return ",".join(sorted(scope_ids(scope)))


class Op(StrEnum):
    """Comparison operators of a finding condition (GuardDuty's Condition, normalised)."""

    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    MATCHES = "matches"  # wildcards (* and ?); filters only
    NOT_MATCHES = "not_matches"


RANGE_OPS: Final[frozenset[Op]] = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """One condition on one field.

    ``field`` is a dotted path into the finding document (``resource.ecsClusterDetails.name``).
    ``values`` are used by EQ/NEQ (match any / match none); ``bound`` by the range operators. Range
    operators compare timestamps (ISO strings in the document) as Unix epoch milliseconds, as
    GuardDuty does for ``updatedAt``.
    """

    field: str
    op: Op
    values: tuple[str, ...] = ()
    bound: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SortSpec:
    """Sort findings by a dotted path; ties are broken by finding id in the same direction."""

    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingPage:
    """One page of finding ids; ``next_token`` is None on the last page."""

    ids: list[str]
    next_token: str | None


class InvalidPageTokenError(ValueError):
    """A next token that is malformed or was issued for a different query."""


# Values that GuardDuty treats as present even when the document omits them.
_DEFAULTS: Final[Mapping[str, tuple[Any, ...]]] = {"service.archived": (False,)}
_ISO_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def values_at(doc: Mapping[str, Any], path: str) -> list[Any]:
    """Every leaf value at ``path``; lists anywhere along the path (or at the leaf) are flattened.

    An empty list means the field is absent (or null) in the document.
    """
    current: list[Any] = [doc]
    for part in path.split("."):
        found: list[Any] = []
        for node in current:
            if isinstance(node, Mapping) and part in node:
                _flatten_into(found, node[part])
        current = found
    present = [v for v in current if v is not None]
    if not present and path in _DEFAULTS:
        return list(_DEFAULTS[path])
    return present


def _flatten_into(out: list[Any], value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _flatten_into(out, item)
    else:
        out.append(value)


def iso_to_ms(text: str) -> int | None:
    """Epoch milliseconds of an ISO-8601 timestamp (naive means UTC); None if not a timestamp."""
    if not _ISO_RE.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        ms = iso_to_ms(value)
        if ms is not None:
            return float(ms)
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equals(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.strip().lower() == ("true" if value else "false")
    if isinstance(value, int | float):
        try:
            return float(wanted) == float(value)
        except ValueError:
            return False
    if isinstance(value, str):
        if value == wanted:
            return True
        # A timestamp field compared with epoch milliseconds, as GuardDuty documents for updatedAt.
        if wanted.isdigit():
            ms = iso_to_ms(value)
            return ms is not None and ms == int(wanted)
    return False


_RANGE: Final[Mapping[Op, Callable[[float, float], bool]]] = {
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
}


def wildcard(pattern: str) -> re.Pattern[str]:
    """The compiled form of a GuardDuty ``matches`` pattern: ``*`` any run, ``?`` one character."""
    parts = ("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _any_match(found: list[Any], patterns: tuple[str, ...]) -> bool:
    compiled = [wildcard(p) for p in patterns]
    return any(c.fullmatch(_text_of(v)) for v in found for c in compiled)


def _holds(doc: Mapping[str, Any], cond: Condition) -> bool:
    found = values_at(doc, cond.field)
    if cond.op is Op.MATCHES:
        return _any_match(found, cond.values)
    if cond.op is Op.NOT_MATCHES:
        return not _any_match(found, cond.values)
    if cond.op is Op.EQ:
        return any(_equals(v, w) for v in found for w in cond.values)
    if cond.op is Op.NEQ:
        return not any(_equals(v, w) for v in found for w in cond.values)
    compare = _RANGE[cond.op]
    numbers = (_as_number(v) for v in found)
    return any(n is not None and compare(n, float(cond.bound)) for n in numbers)


def matches(doc: Mapping[str, Any], conditions: Iterable[Condition]) -> bool:
    """True when the document satisfies every condition (an empty list matches everything)."""
    return all(_holds(doc, c) for c in conditions)


# A sort key is (rank, number, text): numbers and timestamps (rank 0) before strings (rank 1) before
# absent values (rank 2), so any mix of values has a total order.
SortKey = tuple[int, float, str]


def sort_key(doc: Mapping[str, Any], field: str) -> SortKey:
    """The comparable key of a document for ``field`` (first value if the path holds several)."""
    found = values_at(doc, field)
    if not found:
        return (2, 0.0, "")
    first = found[0]
    if isinstance(first, bool | int | float):
        return (0, float(first), "")
    if isinstance(first, str):
        ms = iso_to_ms(first)
        return (0, float(ms), "") if ms is not None else (1, 0.0, first)
    return (1, 0.0, json.dumps(first, sort_keys=True))


def _doc_id(doc: Mapping[str, Any]) -> str:
    value = doc.get("id", "")
    return value if isinstance(value, str) else str(value)


def sort_docs(docs: Sequence[Mapping[str, Any]], sort: SortSpec) -> list[Mapping[str, Any]]:
    """Documents in ``sort`` order, ties broken by id (stable across calls)."""
    return sorted(docs, key=lambda d: (sort_key(d, sort.field), _doc_id(d)), reverse=sort.descending)


def _fingerprint(scope: str, conditions: Sequence[Condition], sort: SortSpec) -> str:
    text = repr((scope, tuple(conditions), sort))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(scope: str, conditions: Sequence[Condition], sort: SortSpec, last: Mapping[str, Any]) -> str:
    """An opaque token that resumes right after document ``last`` for this exact query."""
    rank, number, text = sort_key(last, sort.field)
    payload = {"f": _fingerprint(scope, conditions, sort), "k": [rank, number, text], "i": _doc_id(last)}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_token(
    token: str, scope: str, conditions: Sequence[Condition], sort: SortSpec
) -> tuple[SortKey, str]:
    """The (sort key, id) position a token resumes after.

    Raises:
        InvalidPageTokenError: the token is malformed or belongs to another query.
    """
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        rank, number, text = payload["k"]
        position: tuple[SortKey, str] = ((int(rank), float(number), str(text)), str(payload["i"]))
        fingerprint = payload["f"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidPageTokenError("the nextToken is not valid") from exc
    if fingerprint != _fingerprint(scope, conditions, sort):
        raise InvalidPageTokenError("the nextToken was issued for a different query")
    return position


def page_after(
    ordered: Sequence[Mapping[str, Any]], sort: SortSpec, position: tuple[SortKey, str] | None
) -> list[Mapping[str, Any]]:
    """The documents of ``ordered`` (already in ``sort`` order) strictly after ``position``.

    Keyset paging: a document inserted or removed between two pages neither shifts nor repeats
    the others.
    """
    if position is None:
        return list(ordered)

    def after(doc: Mapping[str, Any]) -> bool:
        key = (sort_key(doc, sort.field), _doc_id(doc))
        return key < position if sort.descending else key > position

    return [d for d in ordered if after(d)]
