"""Finding lifecycle operations: ArchiveFindings, UnarchiveFindings, UpdateFindingsFeedback and
CreateSampleFindings (one sample per runtime type, suppressed and published like any finding).

Handlers validate the wire input, call the store and the findings hooks, and return the wire
output; they must not build findings themselves (``findings.samples`` does) or publish directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from rtguard.api.errors import BadRequestError
from rtguard.api.ops_common import enum_value, finding_ids, require_detector
from rtguard.api.visibility import finding_scope
from rtguard.findings.samples import ALL_TYPES, build_sample
from rtguard.store import ids
from rtguard.store.org_types import ASSOCIATED

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rtguard.api.operations import Call, Handler

__all__ = ["LIFECYCLE_OPERATIONS"]

_FEEDBACK: Final = ("USEFUL", "NOT_USEFUL")
_MAX_COMMENT: Final = 4096
_MAX_TYPES: Final = 50
_MEMBER_ARCHIVE: Final = (
    "The request is rejected because member accounts don't have permission to archive findings from "
    "their accounts; the administrator account archives them."
)


def _set_archived(call: Call, archived: bool) -> dict[str, Any]:
    detector_id = require_detector(call)
    wanted = finding_ids(call.body.get("findingIds"))
    if any(m.status in ASSOCIATED for m in call.store.memberships(call.account_id)):
        raise BadRequestError(_MEMBER_ARCHIVE)
    call.store.set_archived(finding_scope(call, detector_id), wanted, archived)
    return {}


def archive_findings(call: Call) -> dict[str, Any]:
    """ArchiveFindings: mark up to 50 findings archived (unknown ids are ignored)."""
    return _set_archived(call, True)


def unarchive_findings(call: Call) -> dict[str, Any]:
    """UnarchiveFindings: mark up to 50 findings active again."""
    return _set_archived(call, False)


def update_findings_feedback(call: Call) -> dict[str, Any]:
    """UpdateFindingsFeedback: USEFUL or NOT_USEFUL on up to 50 findings (``service.userFeedback``).

    Comments are accepted and checked but, as in GuardDuty, not shown in the finding.
    """
    detector_id = require_detector(call)
    wanted = finding_ids(call.body.get("findingIds"), allow_empty=False)
    feedback = enum_value(call.body.get("feedback"), "feedback", _FEEDBACK)
    comments = call.body.get("comments")
    if comments is not None and (not isinstance(comments, str) or len(comments) > _MAX_COMMENT):
        raise BadRequestError(f"comments must be a string of at most {_MAX_COMMENT} characters")
    call.store.set_feedback(finding_scope(call, detector_id), wanted, feedback)
    return {}


def _sample_types(raw: Any) -> tuple[str, ...]:
    if raw is None or raw == []:
        return ALL_TYPES
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise BadRequestError("findingTypes must be a list of finding type names")
    if len(raw) > _MAX_TYPES:
        raise BadRequestError(f"findingTypes has {len(raw)} types; at most {_MAX_TYPES} are allowed")
    unknown = [t for t in raw if t not in ALL_TYPES]
    if unknown:
        raise BadRequestError(
            f"findingTypes: {unknown[0][:128]!r} is not a runtime finding type rtguard can sample"
        )
    return tuple(dict.fromkeys(raw))


def create_sample_findings(call: Call) -> dict[str, Any]:
    """CreateSampleFindings: one ``[SAMPLE]`` finding per requested type (all runtime types when
    none are named); a repeated call aggregates into the same sample ids."""
    detector_id = require_detector(call)
    types = _sample_types(call.body.get("findingTypes"))
    now = ids.iso(datetime.now(UTC))
    for finding_type in types:
        doc = build_sample(
            finding_type, account_id=call.account_id, region=call.region, detector_id=detector_id, now=now
        )
        if call.hooks is not None:
            doc = call.hooks.admit(doc)
        stored, created = call.store.upsert_finding(call.account_id, detector_id, doc["id"], doc, now)
        if call.hooks is not None:
            call.hooks.on_finding(stored, created)
    return {}


LIFECYCLE_OPERATIONS: Final[Mapping[str, Handler]] = {
    "ArchiveFindings": archive_findings,
    "UnarchiveFindings": unarchive_findings,
    "UpdateFindingsFeedback": update_findings_feedback,
    "CreateSampleFindings": create_sample_findings,
}
