"""The GuardDuty operations rtguard implements, one function per operation over an authenticated
``Call`` (account, path parameters, query, JSON body), collected in the ``IMPLEMENTED`` table that
the router dispatches on by operation name.

Handlers are synchronous (the store blocks) and return the response body in the wire shape of the
operation's output; they raise ``BadRequestError`` for anything the client got wrong. They must not
authenticate (the router does, before any handler runs) or touch HTTP objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.criteria import parse_criteria, parse_max_results, parse_sort
from rtguard.api.errors import BadRequestError
from rtguard.api.ops_coverage import COVERAGE_OPERATIONS
from rtguard.api.ops_detectors import DETECTOR_OPERATIONS
from rtguard.api.ops_filters import FILTER_OPERATIONS
from rtguard.api.ops_lifecycle import LIFECYCLE_OPERATIONS
from rtguard.api.ops_lists import LIST_OPERATIONS
from rtguard.api.ops_members import MEMBER_OPERATIONS
from rtguard.api.ops_org import ORG_OPERATIONS
from rtguard.api.ops_publishing import PUBLISHING_OPERATIONS
from rtguard.api.ops_usage import USAGE_OPERATIONS
from rtguard.api.visibility import finding_scope
from rtguard.store.base import DEFAULT_SORT, Store
from rtguard.store.query import InvalidPageTokenError, sort_docs
from rtguard.store.stats import GroupBy

if TYPE_CHECKING:
    from rtguard.findings.lifecycle import FindingHooks

__all__ = ["IMPLEMENTED", "Call", "Handler"]

_MAX_FINDING_IDS: Final = 50
_NOT_OWNED: Final = (
    "The request is rejected because the input detectorId is not owned by the current account."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One authenticated API call, already decoded."""

    store: Store
    region: str
    account_id: str
    path: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any]
    hooks: FindingHooks | None = None  # suppression and publishing of findings the API creates


Handler = Callable[[Call], dict[str, Any]]


def _detector(call: Call) -> str:
    detector_id = call.path.get("DetectorId", "")
    if call.store.get_detector(call.account_id, detector_id) is None:
        raise BadRequestError(_NOT_OWNED)
    return detector_id


def list_detectors(call: Call) -> dict[str, Any]:
    """ListDetectors: the account's detector ids, paged by ``maxResults`` / ``nextToken``."""
    limit = parse_max_results(call.query.get("maxResults"), default=50, upper=50)
    all_ids = call.store.list_detectors(call.account_id)
    start = 0
    token = call.query.get("nextToken")
    if token:
        if token not in all_ids:
            raise BadRequestError("the nextToken is not valid")
        start = all_ids.index(token) + 1
    page = all_ids[start : start + limit]
    body: dict[str, Any] = {"detectorIds": page}
    if start + limit < len(all_ids):
        body["nextToken"] = page[-1]
    return body


def get_detector(call: Call) -> dict[str, Any]:
    """GetDetector: status, publishing frequency, features and tags of one detector."""
    detector = call.store.get_detector(call.account_id, call.path.get("DetectorId", ""))
    if detector is None:
        raise BadRequestError(_NOT_OWNED)
    return detector


def list_findings(call: Call) -> dict[str, Any]:
    """ListFindings: ids of the findings matching ``findingCriteria``, sorted and paged."""
    detector_id = _detector(call)
    conditions = parse_criteria(call.body.get("findingCriteria"))
    sort = parse_sort(call.body.get("sortCriteria"), DEFAULT_SORT)
    limit = parse_max_results(call.body.get("maxResults"), default=50, upper=50)
    token = call.body.get("nextToken")
    if token is not None and not isinstance(token, str):
        raise BadRequestError("nextToken must be a string")
    try:
        page = call.store.query_findings(
            finding_scope(call, detector_id), conditions, sort, limit, token or None
        )
    except InvalidPageTokenError as exc:
        raise BadRequestError(str(exc)) from exc
    body: dict[str, Any] = {"findingIds": page.ids}
    if page.next_token:
        body["nextToken"] = page.next_token
    return body


def get_findings(call: Call) -> dict[str, Any]:
    """GetFindings: the documents of up to 50 finding ids (unknown ids are left out)."""
    detector_id = _detector(call)
    ids = call.body.get("findingIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) and 1 <= len(i) <= 300 for i in ids):
        raise BadRequestError("findingIds must be a list of finding id strings")
    if len(ids) > _MAX_FINDING_IDS:
        raise BadRequestError(f"findingIds has {len(ids)} ids; at most {_MAX_FINDING_IDS} are allowed")
    docs = call.store.get_findings(finding_scope(call, detector_id), ids)
    raw_sort = call.body.get("sortCriteria")
    if raw_sort is not None:
        docs = [dict(d) for d in sort_docs(docs, parse_sort(raw_sort, DEFAULT_SORT))]
    return {"findings": docs}


def _group_by(raw: Any) -> GroupBy:
    try:
        return GroupBy(raw)
    except ValueError as exc:
        allowed = ", ".join(g.value for g in GroupBy)
        raise BadRequestError(f"groupBy must be one of {allowed}") from exc


def get_findings_statistics(call: Call) -> dict[str, Any]:
    """GetFindingsStatistics: legacy ``COUNT_BY_SEVERITY`` or one ``groupBy`` view."""
    detector_id = _detector(call)
    conditions = parse_criteria(call.body.get("findingCriteria"))
    types = call.body.get("findingStatisticTypes")
    group = call.body.get("groupBy")
    if (types is None) == (group is None):
        raise BadRequestError("provide either findingStatisticTypes or groupBy, and not both")
    if types is not None:
        if call.body.get("maxResults") is not None or call.body.get("orderBy") is not None:
            raise BadRequestError("maxResults and orderBy can only be used with groupBy")
        if not isinstance(types, list) or any(t != "COUNT_BY_SEVERITY" for t in types):
            raise BadRequestError("findingStatisticTypes must only contain COUNT_BY_SEVERITY")
        if not types:
            return {"findingStatistics": {}}
        stats = call.store.finding_statistics(finding_scope(call, detector_id), conditions, None)
        return {"findingStatistics": stats}
    order = call.body.get("orderBy", "DESC")
    if order not in ("ASC", "DESC"):
        raise BadRequestError("orderBy must be ASC or DESC")
    limit = parse_max_results(call.body.get("maxResults"), default=25, upper=100)
    scope = finding_scope(call, detector_id)
    stats = call.store.finding_statistics(
        scope, conditions, _group_by(group), descending=order == "DESC", max_results=limit
    )
    return {"findingStatistics": stats}


IMPLEMENTED: Final[Mapping[str, Handler]] = {
    "ListDetectors": list_detectors,
    "GetDetector": get_detector,
    "ListFindings": list_findings,
    "GetFindings": get_findings,
    "GetFindingsStatistics": get_findings_statistics,
    **COVERAGE_OPERATIONS,
    **LIFECYCLE_OPERATIONS,
    **FILTER_OPERATIONS,
    **LIST_OPERATIONS,
    **DETECTOR_OPERATIONS,
    **PUBLISHING_OPERATIONS,
    **MEMBER_OPERATIONS,
    **ORG_OPERATIONS,
    **USAGE_OPERATIONS,
}
