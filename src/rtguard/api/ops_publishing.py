"""Publishing destination operations: CreatePublishingDestination, DescribePublishingDestination,
UpdatePublishingDestination, DeletePublishingDestination and ListPublishingDestinations.

``destinationType`` is GuardDuty's ``S3`` (JSON-lines files under the server's export directory,
``destinationArn`` = ``arn:aws:s3:::bucket[/prefix]``) or one of rtguard's: ``FILE`` and
``FILE_OCSF`` (absolute directory), ``WEBHOOK`` and ``WEBHOOK_OCSF`` (http(s) URL, EventBridge
events or OCSF), ``SYSLOG`` and ``SYSLOG_OCSF`` (``udp://host:port`` or ``unix:///path``).
``kmsKeyArn`` is kept but not used. Handlers persist and tell the hooks; they must not send.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.errors import BadRequestError
from rtguard.api.ops_common import page_of, require_detector, tags_of
from rtguard.findings.outputs import DESTINATION_TYPES
from rtguard.store.lifecycle import DestinationRecord

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rtguard.api.operations import Call, Handler

__all__ = ["PUBLISHING_OPERATIONS"]

_MAX_DESTINATIONS: Final = 10
_PROPERTY_KEYS: Final = ("destinationArn", "kmsKeyArn", "expectedBucketOwner")


def _properties(raw: Any, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise BadRequestError("destinationProperties must be an object")
    props = dict(base or {})
    for key in _PROPERTY_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not 1 <= len(value) <= 1024:
            raise BadRequestError(f"destinationProperties.{key} must be a string of 1 to 1024 characters")
        props[key] = value
    if not props.get("destinationArn"):
        raise BadRequestError("destinationProperties.destinationArn is required")
    return props


def _check(call: Call, destination_type: str, arn: str) -> None:
    if destination_type not in DESTINATION_TYPES:
        raise BadRequestError(f"destinationType must be one of {', '.join(DESTINATION_TYPES)}")
    if call.hooks is None:
        return
    try:
        call.hooks.check_destination(destination_type, arn)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc


def _existing(call: Call, detector_id: str) -> DestinationRecord:
    record = call.store.get_destination(detector_id, call.path.get("DestinationId", ""))
    if record is None:
        raise BadRequestError("The request is rejected because the input destinationId does not exist.")
    return record


def _changed(call: Call) -> None:
    if call.hooks is not None:
        call.hooks.destinations_changed()


def create_publishing_destination(call: Call) -> dict[str, Any]:
    """CreatePublishingDestination: start publishing the detector's findings somewhere."""
    detector_id = require_detector(call)
    destination_type = call.body.get("destinationType")
    if not isinstance(destination_type, str):
        raise BadRequestError("destinationType is required")
    props = _properties(call.body.get("destinationProperties"))
    tags = tags_of(call.body.get("tags"))
    _check(call, destination_type, props["destinationArn"])
    if len(call.store.list_destinations(detector_id)) >= _MAX_DESTINATIONS:
        raise BadRequestError(f"a detector can have at most {_MAX_DESTINATIONS} publishing destinations")
    record = DestinationRecord(
        destination_id=secrets.token_hex(16),
        detector_id=detector_id,
        account_id=call.account_id,
        destination_type=destination_type,
        properties=props,
        tags=tags,
    )
    call.store.put_destination(record)
    _changed(call)
    return {"destinationId": record.destination_id}


def describe_publishing_destination(call: Call) -> dict[str, Any]:
    """DescribePublishingDestination: type, properties and status (failing since when)."""
    record = _existing(call, require_detector(call))
    return {
        "destinationId": record.destination_id,
        "destinationType": record.destination_type,
        "status": record.status,
        "publishingFailureStartTimestamp": record.failure_start_ms,
        "destinationProperties": dict(record.properties),
        "tags": dict(record.tags),
    }


def update_publishing_destination(call: Call) -> dict[str, Any]:
    """UpdatePublishingDestination: new destination properties."""
    detector_id = require_detector(call)
    record = _existing(call, detector_id)
    raw = call.body.get("destinationProperties")
    if raw is None:
        return {}
    props = _properties(raw, base=record.properties)
    _check(call, record.destination_type, props["destinationArn"])
    call.store.put_destination(replace(record, properties=props, status="PUBLISHING", failure_start_ms=0))
    _changed(call)
    return {}


def delete_publishing_destination(call: Call) -> dict[str, Any]:
    """DeletePublishingDestination: stop publishing there."""
    detector_id = require_detector(call)
    if not call.store.delete_destination(detector_id, call.path.get("DestinationId", "")):
        raise BadRequestError("The request is rejected because the input destinationId does not exist.")
    _changed(call)
    return {}


def list_publishing_destinations(call: Call) -> dict[str, Any]:
    """ListPublishingDestinations: id, type and status of each, paged."""
    detector_id = require_detector(call)
    records = {r.destination_id: r for r in call.store.list_destinations(detector_id)}
    page, token = page_of(list(records), call.query)
    out: dict[str, Any] = {
        "destinations": [
            {
                "destinationId": key,
                "destinationType": records[key].destination_type,
                "status": records[key].status,
            }
            for key in page
        ]
    }
    if token:
        out["nextToken"] = token
    return out


PUBLISHING_OPERATIONS: Final[Mapping[str, Handler]] = {
    "CreatePublishingDestination": create_publishing_destination,
    "DescribePublishingDestination": describe_publishing_destination,
    "UpdatePublishingDestination": update_publishing_destination,
    "DeletePublishingDestination": delete_publishing_destination,
    "ListPublishingDestinations": list_publishing_destinations,
}
