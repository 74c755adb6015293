"""ListCoverage and GetCoverageStatistics over coverage documents: GuardDuty's filter criteria
(``criterionKey`` with ``equals`` / ``notEquals``), sort keys, seek-based page tokens and the two
statistics, with every invalid input reported as a :class:`CoverageQueryError` the API turns into
a 400.

Pure: documents in, documents out; must not read the store or know HTTP.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "FILTER_KEYS",
    "SORT_KEYS",
    "CoverageFilter",
    "CoverageQueryError",
    "CoverageSort",
    "filter_resources",
    "page_resources",
    "parse_filters",
    "parse_sort",
    "statistics",
]


class CoverageQueryError(ValueError):
    """The request's criteria, sort, limit or token are not valid."""


def _get(doc: Mapping[str, Any], *path: str) -> Any:
    cur: Any = doc
    for part in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


_RD: Final = "resourceDetails"
# criterion key -> the document paths whose value it compares (any of them may hold it)
FILTER_KEYS: Final[Mapping[str, tuple[tuple[str, ...], ...]]] = {
    "ACCOUNT_ID": (("accountId",),),
    "RESOURCE_TYPE": ((_RD, "resourceType"),),
    "COVERAGE_STATUS": (("coverageStatus",),),
    "ADDON_VERSION": ((_RD, "eksClusterDetails", "addonDetails", "addonVersion"),),
    "CLUSTER_NAME": ((_RD, "eksClusterDetails", "clusterName"), (_RD, "ecsClusterDetails", "clusterName")),
    "ECS_CLUSTER_NAME": ((_RD, "ecsClusterDetails", "clusterName"),),
    "EKS_CLUSTER_NAME": ((_RD, "eksClusterDetails", "clusterName"),),
    "MANAGEMENT_TYPE": (
        (_RD, "ecsClusterDetails", "fargateDetails", "managementType"),
        (_RD, "ec2InstanceDetails", "managementType"),
        (_RD, "eksClusterDetails", "managementType"),
    ),
    "AGENT_VERSION": ((_RD, "ec2InstanceDetails", "agentDetails", "version"),),
    "INSTANCE_ID": ((_RD, "ec2InstanceDetails", "instanceId"),),
    "CLUSTER_ARN": ((_RD, "ec2InstanceDetails", "clusterArn"),),
}
SORT_KEYS: Final[Mapping[str, tuple[tuple[str, ...], ...]]] = {
    "ACCOUNT_ID": FILTER_KEYS["ACCOUNT_ID"],
    "COVERAGE_STATUS": FILTER_KEYS["COVERAGE_STATUS"],
    "ISSUE": (("issue",),),
    "ADDON_VERSION": FILTER_KEYS["ADDON_VERSION"],
    "UPDATED_AT": (("updatedAt",),),
    "CLUSTER_NAME": FILTER_KEYS["CLUSTER_NAME"],
    "EKS_CLUSTER_NAME": FILTER_KEYS["EKS_CLUSTER_NAME"],
    "ECS_CLUSTER_NAME": FILTER_KEYS["ECS_CLUSTER_NAME"],
    "INSTANCE_ID": FILTER_KEYS["INSTANCE_ID"],
}
_MAX_CRITERIA: Final = 50
_STAT_TYPES: Final = ("COUNT_BY_RESOURCE_TYPE", "COUNT_BY_COVERAGE_STATUS")


@dataclass(frozen=True, slots=True)
class CoverageFilter:
    """One criterion: the key and its ``equals`` or ``notEquals`` values."""

    key: str
    equals: tuple[str, ...] | None
    not_equals: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class CoverageSort:
    """Sort key and direction; ``key`` None means resource id order."""

    key: str | None = None
    descending: bool = False


def _values(raw: Any, name: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw) or len(raw) > 50:
        raise CoverageQueryError(f"{name} must be a list of 1 to 50 strings")
    return tuple(raw)


def parse_filters(raw: Any) -> list[CoverageFilter]:
    """``filterCriteria`` (wire shape) as filters; an absent value means no filter."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise CoverageQueryError("filterCriteria must be an object")
    items = raw.get("filterCriterion") or []
    if not isinstance(items, list) or len(items) > _MAX_CRITERIA:
        raise CoverageQueryError(f"filterCriterion must be a list of at most {_MAX_CRITERIA} criteria")
    out = []
    for item in items:
        key = item.get("criterionKey") if isinstance(item, Mapping) else None
        if key not in FILTER_KEYS:
            raise CoverageQueryError(f"criterionKey must be one of {', '.join(FILTER_KEYS)}, got {key!r}")
        cond = item.get("filterCondition")
        if not isinstance(cond, Mapping):
            raise CoverageQueryError(f"criterion {key} needs a filterCondition")
        equals, not_equals = (
            _values(cond.get("equals"), "equals"),
            _values(cond.get("notEquals"), "notEquals"),
        )
        if (equals is None) == (not_equals is None):
            raise CoverageQueryError(f"criterion {key} needs exactly one of equals and notEquals")
        out.append(CoverageFilter(str(key), equals, not_equals))
    return out


def parse_sort(raw: Any) -> CoverageSort:
    """``sortCriteria`` (wire shape) as a sort; absent means resource id order."""
    if raw is None:
        return CoverageSort()
    if not isinstance(raw, Mapping):
        raise CoverageQueryError("sortCriteria must be an object")
    key = raw.get("attributeName")
    if key is not None and key not in SORT_KEYS:
        raise CoverageQueryError(f"attributeName must be one of {', '.join(SORT_KEYS)}, got {key!r}")
    order = raw.get("orderBy", "ASC")
    if order not in ("ASC", "DESC"):
        raise CoverageQueryError("orderBy must be ASC or DESC")
    return CoverageSort(key=key, descending=order == "DESC")


def _found(doc: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> list[str]:
    values = []
    for path in paths:
        value = _get(doc, *path)
        if value is not None:
            values.append(str(value))
    return values


def filter_resources(
    docs: Sequence[Mapping[str, Any]], filters: Sequence[CoverageFilter]
) -> list[Mapping[str, Any]]:
    """The documents matching every filter."""

    def ok(doc: Mapping[str, Any]) -> bool:
        for f in filters:
            found = _found(doc, FILTER_KEYS[f.key])
            if f.equals is not None and not any(v in f.equals for v in found):
                return False
            if f.not_equals is not None and any(v in f.not_equals for v in found):
                return False
        return True

    return [d for d in docs if ok(d)]


def _sort_key(sort: CoverageSort) -> Callable[[Mapping[str, Any]], tuple[Any, str]]:
    def key(doc: Mapping[str, Any]) -> tuple[Any, str]:
        rid = str(doc.get("resourceId", ""))
        if sort.key is None:
            return ("", rid)
        if sort.key == "UPDATED_AT":
            value = doc.get("updatedAt")
            return (float(value) if isinstance(value, int | float) else 0.0, rid)
        found = _found(doc, SORT_KEYS[sort.key])
        return (found[0] if found else "", rid)

    return key


def _fingerprint(filters: Sequence[CoverageFilter], sort: CoverageSort) -> str:
    text = json.dumps([[f.key, f.equals, f.not_equals] for f in filters] + [[sort.key, sort.descending]])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def page_resources(
    docs: Sequence[Mapping[str, Any]],
    filters: Sequence[CoverageFilter],
    sort: CoverageSort,
    max_results: int,
    next_token: str | None,
) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of the matching documents in sort order, and the token of the next page (None at
    the end). Tokens hold the last item's sort key, so pages neither repeat nor skip a resource
    that stays put while others change."""
    key = _sort_key(sort)
    ordered = sorted(filter_resources(docs, filters), key=key, reverse=sort.descending)
    fingerprint = _fingerprint(filters, sort)
    if next_token:
        try:
            data = json.loads(base64.urlsafe_b64decode(next_token.encode()))
            if data["f"] != fingerprint:
                raise CoverageQueryError("the nextToken belongs to another query")
            last = (data["k"][0], data["k"][1])
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as exc:
            raise CoverageQueryError("the nextToken is not valid") from exc
        ordered = [d for d in ordered if (key(d) < last if sort.descending else key(d) > last)]
    page = ordered[:max_results]
    token = None
    if len(ordered) > max_results:
        body = json.dumps({"f": fingerprint, "k": list(key(page[-1]))})
        token = base64.urlsafe_b64encode(body.encode()).decode()
    return page, token


def statistics(
    docs: Sequence[Mapping[str, Any]], filters: Sequence[CoverageFilter], types: Any
) -> dict[str, dict[str, int]]:
    """``coverageStatistics`` (wire shape) for the requested statistics types."""
    if not isinstance(types, list) or not types or any(t not in _STAT_TYPES for t in types):
        raise CoverageQueryError(f"statisticsType must be a non-empty list of {', '.join(_STAT_TYPES)}")
    matching = filter_resources(docs, filters)
    out: dict[str, dict[str, int]] = {}
    if "COUNT_BY_RESOURCE_TYPE" in types:
        by_type: dict[str, int] = {}
        for d in matching:
            rtype = str(_get(d, _RD, "resourceType") or "")
            by_type[rtype] = by_type.get(rtype, 0) + 1
        out["countByResourceType"] = by_type
    if "COUNT_BY_COVERAGE_STATUS" in types:
        by_status: dict[str, int] = {}
        for d in matching:
            status = str(d.get("coverageStatus") or "")
            by_status[status] = by_status.get(status, 0) + 1
        out["countByCoverageStatus"] = by_status
    return out
