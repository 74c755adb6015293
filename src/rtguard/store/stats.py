"""Finding statistics as pure functions over finding documents: GuardDuty's legacy
``countBySeverity`` and the ``groupBy`` views (ACCOUNT, DATE, FINDING_TYPE, RESOURCE, SEVERITY),
returned in the wire shape of ``FindingStatistics``.

Timestamps in the output (``lastGeneratedAt``, ``date``) are Unix epoch seconds, which is how the
rest-json protocol carries the model's ``Timestamp`` type. Pure: no I/O, no filtering (callers pass
the documents that already matched the criteria).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from rtguard.store.query import iso_to_ms, values_at

__all__ = ["GroupBy", "count_by_severity", "grouped_statistics"]


class GroupBy(StrEnum):
    """The ``groupBy`` values of GetFindingsStatistics."""

    ACCOUNT = "ACCOUNT"
    DATE = "DATE"
    FINDING_TYPE = "FINDING_TYPE"
    RESOURCE = "RESOURCE"
    SEVERITY = "SEVERITY"


Doc = Mapping[str, Any]

# Which field identifies the resource of each resource type (from the ResourceStatistics docs).
_RESOURCE_ID_FIELD: Final[Mapping[str, str]] = {
    "AccessKey": "resource.accessKeyDetails.accessKeyId",
    "Container": "resource.containerDetails.id",
    "ECSCluster": "resource.ecsClusterDetails.name",
    "EKSCluster": "resource.eksClusterDetails.name",
    "Instance": "resource.instanceDetails.instanceId",
    "KubernetesCluster": "resource.kubernetesDetails.kubernetesWorkloadDetails.name",
    "Lambda": "resource.lambdaDetails.functionName",
    "RDSDBInstance": "resource.rdsDbInstanceDetails.dbInstanceIdentifier",
    "S3Bucket": "resource.s3BucketDetails.name",
    "S3Object": "resource.s3BucketDetails.name",
}


def _first(doc: Doc, path: str) -> Any:
    found = values_at(doc, path)
    return found[0] if found else None


def _severity(doc: Doc) -> float:
    value = doc.get("severity")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _updated_seconds(doc: Doc) -> float:
    for field in ("updatedAt", "createdAt"):
        value = doc.get(field)
        if isinstance(value, str):
            ms = iso_to_ms(value)
            if ms is not None:
                return ms / 1000.0
    return 0.0


def count_by_severity(docs: Iterable[Doc]) -> dict[str, int]:
    """The legacy ``countBySeverity`` map: severity as a string ("8.0") → number of findings."""
    counts: dict[str, int] = {}
    for doc in docs:
        key = str(_severity(doc))
        counts[key] = counts.get(key, 0) + 1
    return counts


def _day_start(seconds: float) -> float:
    day = datetime.fromtimestamp(seconds, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def _account_key(doc: Doc) -> tuple[Any, ...]:
    return (str(doc.get("accountId", "")),)


def _date_key(doc: Doc) -> tuple[Any, ...]:
    return (_day_start(_updated_seconds(doc)), _severity(doc))


def _type_key(doc: Doc) -> tuple[Any, ...]:
    return (str(doc.get("type", "")),)


def _resource_key(doc: Doc) -> tuple[Any, ...]:
    resource_type = str(_first(doc, "resource.resourceType") or "")
    field = _RESOURCE_ID_FIELD.get(resource_type)
    resource_id = _first(doc, field) if field else None
    return (str(doc.get("accountId", "")), resource_type, "" if resource_id is None else str(resource_id))


def _severity_key(doc: Doc) -> tuple[Any, ...]:
    return (_severity(doc),)


def _account_row(key: tuple[Any, ...]) -> dict[str, Any]:
    return {"accountId": key[0]}


def _date_row(key: tuple[Any, ...]) -> dict[str, Any]:
    return {"date": key[0], "severity": key[1]}


def _type_row(key: tuple[Any, ...]) -> dict[str, Any]:
    return {"findingType": key[0]}


def _resource_row(key: tuple[Any, ...]) -> dict[str, Any]:
    return {"accountId": key[0], "resourceType": key[1], "resourceId": key[2]}


def _severity_row(key: tuple[Any, ...]) -> dict[str, Any]:
    return {"severity": key[0]}


_GROUPINGS: Final[
    Mapping[
        GroupBy, tuple[str, Callable[[Doc], tuple[Any, ...]], Callable[[tuple[Any, ...]], dict[str, Any]]]
    ]
] = {
    GroupBy.ACCOUNT: ("groupedByAccount", _account_key, _account_row),
    GroupBy.DATE: ("groupedByDate", _date_key, _date_row),
    GroupBy.FINDING_TYPE: ("groupedByFindingType", _type_key, _type_row),
    GroupBy.RESOURCE: ("groupedByResource", _resource_key, _resource_row),
    GroupBy.SEVERITY: ("groupedBySeverity", _severity_key, _severity_row),
}


def grouped_statistics(
    docs: Iterable[Doc], group_by: GroupBy, *, descending: bool = True, max_results: int = 25
) -> dict[str, Any]:
    """``FindingStatistics`` with one ``groupedBy…`` list, ordered by ``totalFindings``.

    Ties are broken by the group key so the order is deterministic; at most ``max_results`` rows.
    """
    member, key_of, row_of = _GROUPINGS[group_by]
    totals: dict[tuple[Any, ...], int] = {}
    last: dict[tuple[Any, ...], float] = {}
    for doc in docs:
        key = key_of(doc)
        totals[key] = totals.get(key, 0) + 1
        last[key] = max(last.get(key, 0.0), _updated_seconds(doc))
    ordered = sorted(totals, key=lambda k: (-totals[k] if descending else totals[k], k))
    rows = [
        {**row_of(key), "lastGeneratedAt": last[key], "totalFindings": totals[key]}
        for key in ordered[:max_results]
    ]
    return {member: rows}
