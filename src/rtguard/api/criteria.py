"""Translation of GuardDuty's request wire shapes (``findingCriteria``, ``sortCriteria``,
``maxResults``) into the store's query types, with the validation GuardDuty applies and
``BadRequestError`` messages that say what is wrong.

Pure: no I/O, no store access. Must not define what a condition *means* (``store.query`` does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from rtguard.api.errors import BadRequestError
from rtguard.store.query import Condition, Op, SortSpec

__all__ = ["parse_criteria", "parse_filter_criteria", "parse_max_results", "parse_sort"]

_MAX_VALUES: Final = 50
_MAX_CRITERIA: Final = 50
_FIELD_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def _values(field: str, key: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise BadRequestError(f"criterion '{field}': '{key}' must be a list of strings")
    if not 1 <= len(raw) <= _MAX_VALUES:
        raise BadRequestError(f"criterion '{field}': '{key}' must have 1 to {_MAX_VALUES} values")
    return tuple(raw)


def _bound(field: str, key: str, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadRequestError(f"criterion '{field}': '{key}' must be an integer")
    return raw


def _list_condition(op: Op) -> Callable[[str, str, Any], Condition]:
    def build(field: str, key: str, raw: Any) -> Condition:
        return Condition(field=field, op=op, values=_values(field, key, raw))

    return build


def _range_condition(op: Op) -> Callable[[str, str, Any], Condition]:
    def build(field: str, key: str, raw: Any) -> Condition:
        return Condition(field=field, op=op, bound=_bound(field, key, raw))

    return build


# Wire member name of Condition → builder. The deprecated short names (eq, gt, …) and the current
# ones (equals, greaterThan, …) mean the same thing.
_OPERATORS: Final[Mapping[str, Callable[[str, str, Any], Condition]]] = {
    "eq": _list_condition(Op.EQ),
    "equals": _list_condition(Op.EQ),
    "neq": _list_condition(Op.NEQ),
    "notEquals": _list_condition(Op.NEQ),
    "gt": _range_condition(Op.GT),
    "greaterThan": _range_condition(Op.GT),
    "gte": _range_condition(Op.GTE),
    "greaterThanOrEqual": _range_condition(Op.GTE),
    "lt": _range_condition(Op.LT),
    "lessThan": _range_condition(Op.LT),
    "lte": _range_condition(Op.LTE),
    "lessThanOrEqual": _range_condition(Op.LTE),
}
_FILTER_ONLY: Final = frozenset({"matches", "notMatches"})
_MAX_PATTERNS: Final = 5


def _pattern_condition(op: Op) -> Callable[[str, str, Any], Condition]:
    def build(field: str, key: str, raw: Any) -> Condition:
        if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
            raise BadRequestError(f"criterion '{field}': '{key}' must be a list of non-empty strings")
        if not 1 <= len(raw) <= _MAX_PATTERNS:
            raise BadRequestError(f"criterion '{field}': '{key}' must have 1 to {_MAX_PATTERNS} patterns")
        return Condition(field=field, op=op, values=tuple(raw))

    return build


_FILTER_OPERATORS: Final[Mapping[str, Callable[[str, str, Any], Condition]]] = {
    "matches": _pattern_condition(Op.MATCHES),
    "notMatches": _pattern_condition(Op.NOT_MATCHES),
}


def _field(name: Any) -> str:
    if not isinstance(name, str) or not _FIELD_RE.match(name):
        raise BadRequestError(
            f"invalid criterion field name {name!r}: use a dotted path such as 'resource.resourceType'"
        )
    return name


def _conditions_of(field: str, condition: Any, *, for_filter: bool = False) -> list[Condition]:
    if not isinstance(condition, dict):
        raise BadRequestError(f"criterion '{field}' must be an object of conditions")
    present = {k: v for k, v in condition.items() if v is not None}
    if not present:
        raise BadRequestError(f"criterion '{field}' has no condition")
    built: list[Condition] = []
    for key, raw in present.items():
        if for_filter and key in _FILTER_OPERATORS:
            built.append(_FILTER_OPERATORS[key](field, key, raw))
            continue
        if key in _FILTER_ONLY:
            raise BadRequestError(
                f"criterion '{field}': '{key}' is only available for filters, not for queries"
            )
        builder = _OPERATORS.get(key)
        if builder is None:
            raise BadRequestError(f"criterion '{field}': unknown condition '{key}'")
        built.append(builder(field, key, raw))
    return built


def parse_criteria(raw: Any) -> list[Condition]:
    """``findingCriteria`` → conditions (all must hold). None or ``{}`` means no condition.

    Raises:
        BadRequestError: the criteria are not of GuardDuty's shape.
    """
    return _parse(raw, for_filter=False)


def parse_filter_criteria(raw: Any) -> list[Condition]:
    """A filter's ``findingCriteria``: as :func:`parse_criteria`, plus ``matches`` and
    ``notMatches`` (wildcards), which GuardDuty accepts only in filters.

    Raises:
        BadRequestError: the criteria are not of GuardDuty's shape.
    """
    return _parse(raw, for_filter=True)


def _parse(raw: Any, *, for_filter: bool) -> list[Condition]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise BadRequestError("findingCriteria must be an object")
    criterion = raw.get("criterion")
    if criterion is None:
        return []
    if not isinstance(criterion, dict):
        raise BadRequestError("findingCriteria.criterion must be an object")
    if len(criterion) > _MAX_CRITERIA:
        raise BadRequestError(f"findingCriteria.criterion has more than {_MAX_CRITERIA} fields")
    conditions: list[Condition] = []
    for name, condition in criterion.items():
        conditions.extend(_conditions_of(_field(name), condition, for_filter=for_filter))
    return conditions


_ORDERS: Final[Mapping[str, bool]] = {"ASC": False, "DESC": True}


def parse_sort(raw: Any, default: SortSpec) -> SortSpec:
    """``sortCriteria`` → sort; ``default`` when absent. ``orderBy`` alone reorders the default field.

    Raises:
        BadRequestError: bad attribute name or orderBy.
    """
    if raw is None:
        return default
    if not isinstance(raw, dict):
        raise BadRequestError("sortCriteria must be an object")
    attribute = raw.get("attributeName")
    order = raw.get("orderBy")
    if order is not None and order not in _ORDERS:
        raise BadRequestError("sortCriteria.orderBy must be ASC or DESC")
    field = default.field if attribute is None else _field(attribute)
    if order is None:
        return SortSpec(field=field, descending=default.descending if attribute is None else False)
    return SortSpec(field=field, descending=_ORDERS[order])


def parse_max_results(raw: Any, *, name: str = "maxResults", default: int, upper: int) -> int:
    """A ``maxResults`` value in 1..``upper`` (``default`` when absent). Accepts query-string text.

    Raises:
        BadRequestError: not an integer, or out of range.
    """
    if raw is None:
        return default
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        value = int(raw)
    if value is None or not 1 <= value <= upper:
        raise BadRequestError(f"{name} must be an integer from 1 to {upper}")
    return value
