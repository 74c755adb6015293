"""The wire formats findings are published in: the Amazon EventBridge event GuardDuty emits
("GuardDuty Finding", source ``aws.guardduty``, the finding as ``detail``) and an OCSF 1.4
Detection Finding (class 2004) with the ``cloud`` profile, plus the table that selects one by name.

Pure: no I/O; the caller passes the event id and nothing here reads a clock. Finding text
(titles, paths, command lines) is attacker-influenced and is copied as JSON data, never
interpreted or rendered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from rtguard import __version__
from rtguard.model.findings import FINDING_TYPES_BY_NAME
from rtguard.store.query import iso_to_ms, values_at

__all__ = [
    "FORMATTERS",
    "OCSF_VERSION",
    "PayloadFormat",
    "eventbridge_event",
    "finding_payload",
    "ocsf_detection_finding",
]

OCSF_VERSION: Final = "1.4.0"
_DETECTION_FINDING: Final = 2004
_FINDINGS_CATEGORY: Final = 2

Doc = Mapping[str, Any]


class PayloadFormat(StrEnum):
    """What a destination receives for each published finding."""

    EVENTBRIDGE = "eventbridge"  # the EventBridge event GuardDuty emits
    FINDING = "finding"  # the bare finding document (as GuardDuty's S3 export)
    OCSF = "ocsf"  # OCSF Detection Finding


def _event_time(doc: Doc) -> str:
    ms = iso_to_ms(str(doc.get("updatedAt", ""))) or 0
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def eventbridge_event(doc: Doc, *, event_id: str, created: bool = True) -> dict[str, Any]:
    """The EventBridge event of one finding, as GuardDuty sends it to the default bus."""
    del created  # GuardDuty sends the same event shape for new findings and updates
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": str(doc.get("accountId", "")),
        "time": _event_time(doc),
        "region": str(doc.get("region", "")),
        "resources": [],
        "detail": dict(doc),
    }


def finding_payload(doc: Doc, *, event_id: str, created: bool = True) -> dict[str, Any]:
    """The finding document itself (``event_id`` and ``created`` are not part of it)."""
    del event_id, created
    return dict(doc)


# GuardDuty severity bands → OCSF severity_id (2 Low, 3 Medium, 4 High, 5 Critical).
def _severity(value: Any) -> tuple[int, str]:
    sev = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
    if sev >= 9:
        return 5, "Critical"
    if sev >= 7:
        return 4, "High"
    if sev >= 4:
        return 3, "Medium"
    if sev >= 1:
        return 2, "Low"
    return 1, "Informational"


def _ms(doc: Doc, path: str) -> int | None:
    found = values_at(doc, path)
    return iso_to_ms(found[0]) if found and isinstance(found[0], str) else None


def _first_text(doc: Doc, path: str) -> str | None:
    found = values_at(doc, path)
    return str(found[0]) if found and found[0] is not None else None


def _resource(doc: Doc) -> dict[str, Any]:
    kind = _first_text(doc, "resource.resourceType") or "Unknown"
    uid = (
        _first_text(doc, "resource.ecsClusterDetails.taskDetails.arn")
        or _first_text(doc, "resource.containerDetails.id")
        or _first_text(doc, "resource.instanceDetails.instanceId")
        or "unknown"
    )
    out: dict[str, Any] = {"type": kind, "uid": uid, "cloud_partition": str(doc.get("partition", "aws"))}
    name = _first_text(doc, "resource.ecsClusterDetails.name") or _first_text(
        doc, "resource.containerDetails.name"
    )
    if name:
        out["name"] = name
    if doc.get("region"):
        out["region"] = str(doc["region"])
    return out


def _process_evidence(doc: Doc) -> list[dict[str, Any]]:
    process = values_at(doc, "service.runtimeDetails.process")
    if not process or not isinstance(process[0], Mapping):
        return []
    proc = process[0]
    out: dict[str, Any] = {}
    if isinstance(proc.get("name"), str):
        out["name"] = proc["name"]
    if isinstance(proc.get("pid"), int) and not isinstance(proc.get("pid"), bool):
        out["pid"] = proc["pid"]
    path = proc.get("executablePath")
    if isinstance(path, str) and path:
        file: dict[str, Any] = {"name": path.rsplit("/", 1)[-1] or path, "path": path, "type_id": 1}
        sha = proc.get("executableSha256")
        if isinstance(sha, str) and sha:
            file["hashes"] = [{"algorithm_id": 3, "algorithm": "SHA-256", "value": sha}]
        out["file"] = file
    return [{"process": out}] if out else []


def _attacks(finding_type: str) -> list[dict[str, Any]]:
    known = FINDING_TYPES_BY_NAME.get(finding_type)
    if known is None:
        return []
    return [{"tactic": {"name": known.tactic}, "technique": {"uid": known.technique}}]


def ocsf_detection_finding(doc: Doc, *, event_id: str, created: bool = True) -> dict[str, Any]:
    """An OCSF Detection Finding (class 2004, OCSF 1.4.0, ``cloud`` profile) for a finding.

    ``activity_id`` is 1 (Create) for a new finding, 2 (Update) for a recurrence; an archived
    finding has ``status_id`` 3 (Suppressed). The GuardDuty document is kept in ``raw_data``.
    """
    activity = 1 if created else 2
    severity_id, severity = _severity(doc.get("severity"))
    archived = values_at(doc, "service.archived") == [True]
    updated = _ms(doc, "updatedAt") or 0
    info: dict[str, Any] = {
        "uid": str(doc.get("arn") or doc.get("id") or event_id),
        "title": str(doc.get("title", "")),
        "desc": str(doc.get("description", "")),
        "types": [str(doc.get("type", ""))],
        "product_uid": "rtguard",
    }
    for key, path in (
        ("created_time", "createdAt"),
        ("modified_time", "updatedAt"),
        ("first_seen_time", "service.eventFirstSeen"),
        ("last_seen_time", "service.eventLastSeen"),
    ):
        ms = _ms(doc, path)
        if ms is not None:
            info[key] = ms
    attacks = _attacks(str(doc.get("type", "")))
    if attacks:
        info["attacks"] = attacks
    count = values_at(doc, "service.count")
    out: dict[str, Any] = {
        "activity_id": activity,
        "activity_name": "Create" if created else "Update",
        "category_uid": _FINDINGS_CATEGORY,
        "category_name": "Findings",
        "class_uid": _DETECTION_FINDING,
        "class_name": "Detection Finding",
        "type_uid": _DETECTION_FINDING * 100 + activity,
        "type_name": f"Detection Finding: {'Create' if created else 'Update'}",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 3 if archived else 1,
        "status": "Suppressed" if archived else "New",
        "time": updated,
        "message": str(doc.get("title", "")),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": event_id,
            "profiles": ["cloud"],
            "product": {"name": "rtguard", "vendor_name": "rtguard", "version": __version__},
        },
        "cloud": {
            "provider": "AWS",
            "region": str(doc.get("region", "")),
            "account": {"uid": str(doc.get("accountId", "")), "type_id": 10, "type": "AWS Account"},
        },
        "finding_info": info,
        "resources": [_resource(doc)],
        "raw_data": json.dumps(doc, separators=(",", ":"), sort_keys=True),
    }
    if count and isinstance(count[0], int) and not isinstance(count[0], bool):
        out["count"] = count[0]
    evidences = _process_evidence(doc)
    if evidences:
        out["evidences"] = evidences
    return out


Formatter = Callable[..., dict[str, Any]]

FORMATTERS: Final[Mapping[PayloadFormat, Formatter]] = {
    PayloadFormat.EVENTBRIDGE: eventbridge_event,
    PayloadFormat.FINDING: finding_payload,
    PayloadFormat.OCSF: ocsf_detection_finding,
}
