"""IPSet and ThreatIntelSet operations (Create, Get, Update, Delete, List of each), one table of
wire names per list kind so both families share the same handlers. A list's ``location`` is an
absolute file path or an http(s) URL in ``TXT`` or ``STIX`` (2.1) format; activating a list loads
and parses it at once, so a bad location or file is answered as a BadRequestException.

Handlers must not parse list files themselves (``rtguard.intel`` does) or evaluate them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.errors import BadRequestError
from rtguard.api.ops_common import enum_value, optional_text, page_of, require_detector, tags_of
from rtguard.intel.load import IntelLoadError, check_location, load_location
from rtguard.intel.parse import PARSERS
from rtguard.store.lifecycle import IntelKind, IntelSetRecord

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rtguard.api.operations import Call, Handler

__all__ = ["LIST_OPERATIONS"]

_FORMATS: Final = ("TXT", "STIX", "OTX_CSV", "ALIEN_VAULT", "PROOF_POINT", "FIRE_EYE")
_MAX_ENTRIES: Final = 250_000


@dataclass(frozen=True, slots=True)
class _Kind:
    kind: IntelKind
    path_param: str  # IpSetId / ThreatIntelSetId
    id_key: str  # ipSetId / threatIntelSetId
    list_key: str  # ipSetIds / threatIntelSetIds
    limit: int  # GuardDuty's quota per detector
    noun: str


_IP_SET: Final = _Kind(IntelKind.IP_SET, "IpSetId", "ipSetId", "ipSetIds", 1, "IPSet")
_THREAT: Final = _Kind(
    IntelKind.THREAT_INTEL_SET,
    "ThreatIntelSetId",
    "threatIntelSetId",
    "threatIntelSetIds",
    6,
    "ThreatIntelSet",
)


def _format(raw: Any) -> str:
    fmt = enum_value(raw, "format", _FORMATS)
    if fmt not in PARSERS:
        raise BadRequestError(f"format {fmt} is not supported by rtguard; use {' or '.join(PARSERS)}")
    return fmt


def _location(raw: Any) -> str:
    location = optional_text(raw, "location", low=1, high=300)
    if location is None:
        raise BadRequestError("location is required")
    try:
        check_location(location)
    except IntelLoadError as exc:
        raise BadRequestError(str(exc)) from exc
    return location


def _activate(raw: Any, *, required: bool) -> bool | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, bool):
        raise BadRequestError("activate must be true or false")
    return raw


def _loaded(record: IntelSetRecord) -> IntelSetRecord:
    """``record`` with its entries loaded (ACTIVE), or a BadRequest saying why it cannot be."""
    try:
        entries = load_location(record.location, record.format)
    except IntelLoadError as exc:
        raise BadRequestError(f"the {record.location!r} list cannot be used: {exc}") from exc
    total = len(entries.networks) + len(entries.domains)
    if total > _MAX_ENTRIES:
        raise BadRequestError(f"the list has {total} entries; at most {_MAX_ENTRIES} are allowed")
    if record.kind is IntelKind.IP_SET and entries.domains:
        raise BadRequestError("an IPSet holds IP addresses and CIDR blocks only, not domains")
    return replace(record, status="ACTIVE", error="", entries=entries.to_json())


def _existing(call: Call, spec: _Kind, detector_id: str) -> IntelSetRecord:
    record = call.store.get_intel_set(detector_id, spec.kind, call.path.get(spec.path_param, ""))
    if record is None:
        raise BadRequestError(f"The request is rejected because the input {spec.noun} id does not exist.")
    return record


def _create(spec: _Kind) -> Handler:
    def handler(call: Call) -> dict[str, Any]:
        detector_id = require_detector(call)
        body = call.body
        name = optional_text(body.get("name"), "name", low=1, high=300)
        if name is None:
            raise BadRequestError("name is required")
        fmt = _format(body.get("format"))
        location = _location(body.get("location"))
        activate = _activate(body.get("activate"), required=True)
        tags = tags_of(body.get("tags"))
        owner = optional_text(body.get("expectedBucketOwner"), "expectedBucketOwner", low=12, high=12)
        if len(call.store.list_intel_sets(detector_id, spec.kind)) >= spec.limit:
            raise BadRequestError(f"a detector can have at most {spec.limit} {spec.noun}(s)")
        record = IntelSetRecord(
            set_id=secrets.token_hex(16),
            detector_id=detector_id,
            account_id=call.account_id,
            kind=spec.kind,
            name=name,
            format=fmt,
            location=location,
            status="INACTIVE",
            tags=tags,
            expected_owner=owner,
        )
        if activate:
            record = _loaded(record)
        call.store.put_intel_set(record)
        return {spec.id_key: record.set_id}

    return handler


def _get(spec: _Kind) -> Handler:
    def handler(call: Call) -> dict[str, Any]:
        record = _existing(call, spec, require_detector(call))
        out: dict[str, Any] = {
            "name": record.name,
            "format": record.format,
            "location": record.location,
            "status": record.status,
            "tags": dict(record.tags),
        }
        if record.expected_owner:
            out["expectedBucketOwner"] = record.expected_owner
        return out

    return handler


def _update(spec: _Kind) -> Handler:
    def handler(call: Call) -> dict[str, Any]:
        detector_id = require_detector(call)
        record = _existing(call, spec, detector_id)
        body = call.body
        name = optional_text(body.get("name"), "name", low=1, high=300)
        location = _location(body["location"]) if body.get("location") is not None else None
        activate = _activate(body.get("activate"), required=False)
        owner = optional_text(body.get("expectedBucketOwner"), "expectedBucketOwner", low=12, high=12)
        updated = replace(
            record,
            name=name or record.name,
            location=location or record.location,
            expected_owner=owner or record.expected_owner,
        )
        active = record.status == "ACTIVE" if activate is None else activate
        updated = _loaded(updated) if active else replace(updated, status="INACTIVE", entries={})
        call.store.put_intel_set(updated)
        return {}

    return handler


def _delete(spec: _Kind) -> Handler:
    def handler(call: Call) -> dict[str, Any]:
        detector_id = require_detector(call)
        if not call.store.delete_intel_set(detector_id, spec.kind, call.path.get(spec.path_param, "")):
            raise BadRequestError(f"The request is rejected because the input {spec.noun} id does not exist.")
        return {}

    return handler


def _list(spec: _Kind) -> Handler:
    def handler(call: Call) -> dict[str, Any]:
        detector_id = require_detector(call)
        keys = [r.set_id for r in call.store.list_intel_sets(detector_id, spec.kind)]
        page, token = page_of(keys, call.query)
        out: dict[str, Any] = {spec.list_key: page}
        if token:
            out["nextToken"] = token
        return out

    return handler


LIST_OPERATIONS: Final[Mapping[str, Handler]] = {
    f"{verb}{noun}": factory(spec)
    for noun, spec in (("IPSet", _IP_SET), ("ThreatIntelSet", _THREAT))
    for verb, factory in (("Create", _create), ("Get", _get), ("Update", _update), ("Delete", _delete))
} | {"ListIPSets": _list(_IP_SET), "ListThreatIntelSets": _list(_THREAT)}
