"""Detector operations beyond List/Get: CreateDetector, UpdateDetector and DeleteDetector, with
``features`` (RUNTIME_MONITORING or the legacy EKS_RUNTIME_MONITORING, never both, and their
``additionalConfiguration``) and ``findingPublishingFrequency`` (GuardDuty's three values plus
rtguard's ``IMMEDIATE``).

Feature merging is a pure function here; handlers must not touch findings or publishing state
other than through the store and the findings hooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.errors import BadRequestError
from rtguard.api.ops_common import NOT_OWNED, enum_value, require_detector, tags_of
from rtguard.findings.publish import FREQUENCIES
from rtguard.model.features import merge_features
from rtguard.orgs.service import org_managed
from rtguard.store.lifecycle import DetectorChanges

if TYPE_CHECKING:
    from rtguard.api.operations import Call, Handler

__all__ = ["ADDITIONAL", "DETECTOR_OPERATIONS", "RUNTIME_FEATURES", "feature_requests"]

RUNTIME_FEATURES: Final = ("RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING")
ADDITIONAL: Final = ("EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT")
_STATUSES: Final = ("ENABLED", "DISABLED")
_FREQUENCIES: Final = tuple(FREQUENCIES)


def feature_requests(raw: Any) -> list[dict[str, Any]]:
    """Validated ``features`` requests ({name, status, additionalConfiguration}) of an update."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(f, dict) for f in raw):
        raise BadRequestError("features must be a list of feature configurations")
    names = [f.get("name") for f in raw]
    if all(n in names for n in RUNTIME_FEATURES):
        raise BadRequestError(
            "RUNTIME_MONITORING and EKS_RUNTIME_MONITORING cannot both be specified; use RUNTIME_MONITORING"
        )
    out: list[dict[str, Any]] = []
    for feature in raw:
        name = feature.get("name")
        if name not in RUNTIME_FEATURES:
            raise BadRequestError(
                f"feature {str(name)[:64]!r} is not supported by rtguard; it provides RUNTIME_MONITORING"
            )
        extra = feature.get("additionalConfiguration") or []
        if not isinstance(extra, list) or not all(isinstance(e, dict) for e in extra):
            raise BadRequestError("additionalConfiguration must be a list of {name, status}")
        for item in extra:
            enum_value(item.get("name"), "additionalConfiguration name", ADDITIONAL)
            enum_value(item.get("status"), "additionalConfiguration status", _STATUSES)
        status = feature.get("status")
        if status is not None:
            enum_value(status, "feature status", _STATUSES)
        out.append({"name": name, "status": status, "additionalConfiguration": extra})
    return out


def _frequency(raw: Any) -> str | None:
    return None if raw is None else enum_value(raw, "findingPublishingFrequency", _FREQUENCIES)


def _reject_data_sources(raw: Any) -> None:
    if raw:
        raise BadRequestError("dataSources are not supported by rtguard; use features (RUNTIME_MONITORING)")


def _enable(raw: Any, *, required: bool) -> str | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, bool):
        raise BadRequestError("enable must be true or false")
    return "ENABLED" if raw else "DISABLED"


def create_detector(call: Call) -> dict[str, Any]:
    """CreateDetector: the account's one detector. As in GuardDuty, RUNTIME_MONITORING is off
    unless ``features`` turns it on."""
    status = _enable(call.body.get("enable"), required=True)
    frequency = _frequency(call.body.get("findingPublishingFrequency")) or "SIX_HOURS"
    requests = feature_requests(call.body.get("features"))
    _reject_data_sources(call.body.get("dataSources"))
    tags = tags_of(call.body.get("tags"))
    if call.store.list_detectors(call.account_id):
        raise BadRequestError(
            "The request is rejected because a detector already exists for the current account."
        )
    detector_id = call.store.create_detector(call.account_id, tags)
    created = call.store.get_detector(call.account_id, detector_id) or {}
    now = datetime.now(UTC).timestamp()
    features = [
        {**f, "status": "DISABLED", "updatedAt": now} if f.get("name") == "RUNTIME_MONITORING" else f
        for f in created.get("features", [])
    ]
    changes = DetectorChanges(
        status=status, publishing_frequency=frequency, features=merge_features(features, requests, now)
    )
    call.store.update_detector(call.account_id, detector_id, changes)
    return {"detectorId": detector_id}


def update_detector(call: Call) -> dict[str, Any]:
    """UpdateDetector: enable/disable, publishing frequency and runtime features."""
    detector_id = require_detector(call)
    status = _enable(call.body.get("enable"), required=False)
    frequency = _frequency(call.body.get("findingPublishingFrequency"))
    requests = feature_requests(call.body.get("features"))
    _reject_data_sources(call.body.get("dataSources"))
    features = None
    if requests and org_managed(call.store, call.account_id) is not None:
        raise BadRequestError(
            "The request is rejected because a GuardDuty member account can't modify this configuration: "
            "the organization's delegated administrator manages its features."
        )
    if requests:
        current = call.store.get_detector(call.account_id, detector_id) or {}
        features = merge_features(current.get("features", []), requests, datetime.now(UTC).timestamp())
    changes = DetectorChanges(status=status, publishing_frequency=frequency, features=features)
    if not call.store.update_detector(call.account_id, detector_id, changes):
        raise BadRequestError(NOT_OWNED)
    return {}


def delete_detector(call: Call) -> dict[str, Any]:
    """DeleteDetector: the detector with its findings, filters, lists and destinations."""
    detector_id = call.path.get("DetectorId", "")
    if not call.store.delete_detector(call.account_id, detector_id):
        raise BadRequestError(NOT_OWNED)
    if call.hooks is not None:
        call.hooks.destinations_changed()
    return {}


DETECTOR_OPERATIONS: Final[Mapping[str, Handler]] = {
    "CreateDetector": create_detector,
    "UpdateDetector": update_detector,
    "DeleteDetector": delete_detector,
}
