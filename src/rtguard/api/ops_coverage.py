"""The coverage operations of the GuardDuty API: ListCoverage and GetCoverageStatistics, over the
coverage the monitor saved in the store, with GuardDuty's filters, sorting and paging.

Handlers take the router's ``Call`` and return the wire shape. Must not compute coverage (the
monitor and ``rtguard.coverage`` do) nor import ``operations`` at run time (it imports this).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.criteria import parse_max_results
from rtguard.api.errors import BadRequestError
from rtguard.api.visibility import finding_scope
from rtguard.coverage.query import CoverageQueryError, page_resources, parse_filters, parse_sort, statistics
from rtguard.store.coverage import CoverageReader

if TYPE_CHECKING:
    from rtguard.api.operations import Call, Handler

__all__ = ["COVERAGE_OPERATIONS", "get_coverage_statistics", "list_coverage"]

_NOT_OWNED: Final = (
    "The request is rejected because the input detectorId is not owned by the current account."
)


def _coverage(call: Call) -> list[dict[str, Any]]:
    detector_id = call.path.get("DetectorId", "")
    if call.store.get_detector(call.account_id, detector_id) is None:
        raise BadRequestError(_NOT_OWNED)
    if not isinstance(call.store, CoverageReader):
        raise BadRequestError("this rtguard store does not keep coverage")
    scope = finding_scope(call, detector_id)
    if isinstance(scope, str):
        return call.store.load_coverage(detector_id)
    return [doc for one in scope for doc in call.store.load_coverage(one)]


def _wire(doc: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    if not out.get("issue"):
        out.pop("issue", None)
    return out


def list_coverage(call: Call) -> dict[str, Any]:
    """ListCoverage: covered resources matching ``filterCriteria``, sorted and paged (≤ 50)."""
    docs = _coverage(call)
    limit = parse_max_results(call.body.get("maxResults"), default=50, upper=50)
    token = call.body.get("nextToken")
    if token is not None and not isinstance(token, str):
        raise BadRequestError("nextToken must be a string")
    try:
        filters = parse_filters(call.body.get("filterCriteria"))
        sort = parse_sort(call.body.get("sortCriteria"))
        page, next_token = page_resources(docs, filters, sort, limit, token or None)
    except CoverageQueryError as exc:
        raise BadRequestError(str(exc)) from exc
    body: dict[str, Any] = {"resources": [_wire(d) for d in page]}
    if next_token:
        body["nextToken"] = next_token
    return body


def get_coverage_statistics(call: Call) -> dict[str, Any]:
    """GetCoverageStatistics: counts by resource type and/or coverage status."""
    docs = _coverage(call)
    try:
        filters = parse_filters(call.body.get("filterCriteria"))
        stats = statistics(docs, filters, call.body.get("statisticsType"))
    except CoverageQueryError as exc:
        raise BadRequestError(str(exc)) from exc
    return {"coverageStatistics": stats}


COVERAGE_OPERATIONS: Final[Mapping[str, Handler]] = {
    "ListCoverage": list_coverage,
    "GetCoverageStatistics": get_coverage_statistics,
}
