"""The findings-lifecycle part of the store contract: archive and feedback state of findings,
retention, detector updates and deletion, suppression filters, IPSets and ThreatIntelSets, and
publishing destinations, as a ``LifecycleStore`` protocol with its small frozen record types.

This module only declares the contract; it must not import SQLAlchemy or any backend (the SQL
implementation is ``sql_lifecycle``) and must not know HTTP wire names beyond the GuardDuty
values stored in records (``ARCHIVE``, ``ACTIVE``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rtguard.store.query import Scope

__all__ = [
    "DestinationRecord",
    "DetectorChanges",
    "DuplicateError",
    "FilterRecord",
    "IntelKind",
    "IntelSetRecord",
    "LifecycleStore",
]


class DuplicateError(Exception):
    """A record with the same name (filters) already exists in the detector.

    Not a ``StoreError`` subclass only because ``base`` imports this module.
    """


class IntelKind(StrEnum):
    """The two list families: trusted IPs (IPSet) and threat IPs/domains (ThreatIntelSet)."""

    IP_SET = "IP_SET"
    THREAT_INTEL_SET = "THREAT_INTEL_SET"


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterRecord:
    """A saved filter: ``criteria`` is the wire ``findingCriteria`` exactly as accepted."""

    detector_id: str
    account_id: str
    name: str
    description: str
    action: str
    rank: int
    criteria: Mapping[str, Any]
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class IntelSetRecord:
    """An IPSet or ThreatIntelSet with the entries last loaded from its location.

    ``entries`` is the parsed list as JSON-ready data (``rtguard.intel`` defines the shape);
    ``error`` says why loading failed when ``status`` is ``ERROR``.
    """

    set_id: str
    detector_id: str
    account_id: str
    kind: IntelKind
    name: str
    format: str
    location: str
    status: str
    error: str = ""
    entries: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    expected_owner: str | None = None
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DestinationRecord:
    """A publishing destination; ``properties`` is the wire ``destinationProperties``."""

    destination_id: str
    detector_id: str
    account_id: str
    destination_type: str
    properties: Mapping[str, str]
    status: str = "PUBLISHING"
    failure_start_ms: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorChanges:
    """What UpdateDetector changes; None leaves a value as it is. ``features`` is the whole
    merged feature list in GetDetector's wire shape."""

    status: str | None = None
    publishing_frequency: str | None = None
    features: Sequence[Mapping[str, Any]] | None = None


class LifecycleStore(Protocol):
    """Durable lifecycle state. Same thread-safety and ownership rules as ``Store``."""

    # -- findings ----------------------------------------------------------------------------------

    def set_archived(self, detector_id: Scope, finding_ids: Sequence[str], archived: bool) -> int:
        """Set ``service.archived`` on the given findings; returns how many exist."""
        ...

    def set_feedback(self, detector_id: Scope, finding_ids: Sequence[str], feedback: str) -> int:
        """Set ``service.userFeedback`` on the given findings; returns how many exist."""
        ...

    def delete_findings_updated_before(self, cutoff_ms: int) -> int:
        """Delete every finding whose ``updatedAt`` is older than ``cutoff_ms``; returns the count."""
        ...

    # -- detectors ---------------------------------------------------------------------------------

    def update_detector(self, account_id: str, detector_id: str, changes: DetectorChanges) -> bool:
        """Apply ``changes``; False when the detector does not exist in the account."""
        ...

    def delete_detector(self, account_id: str, detector_id: str) -> bool:
        """Delete a detector with its findings, filters, lists and destinations; False if unknown."""
        ...

    def detector_frequency(self, detector_id: str) -> str | None:
        """The detector's ``findingPublishingFrequency``; None when it does not exist."""
        ...

    # -- filters -----------------------------------------------------------------------------------

    def put_filter(self, record: FilterRecord, *, new: bool) -> None:
        """Insert (``new``) or replace a filter.

        Raises:
            DuplicateError: ``new`` and a filter of that name exists.
        """
        ...

    def get_filter(self, detector_id: str, name: str) -> FilterRecord | None:
        """A filter by name; None when it does not exist."""
        ...

    def delete_filter(self, detector_id: str, name: str) -> bool:
        """Delete a filter; False when it did not exist."""
        ...

    def list_filters(self, detector_id: str) -> list[FilterRecord]:
        """The detector's filters in rank order (ties by creation)."""
        ...

    # -- IPSets and ThreatIntelSets ----------------------------------------------------------------

    def put_intel_set(self, record: IntelSetRecord) -> None:
        """Insert or replace a list."""
        ...

    def get_intel_set(self, detector_id: str, kind: IntelKind, set_id: str) -> IntelSetRecord | None:
        """A list by id; None when it does not exist (or is of the other kind)."""
        ...

    def delete_intel_set(self, detector_id: str, kind: IntelKind, set_id: str) -> bool:
        """Delete a list; False when it did not exist."""
        ...

    def list_intel_sets(self, detector_id: str | None, kind: IntelKind | None) -> list[IntelSetRecord]:
        """Lists of one detector (or all) and one kind (or both), oldest first."""
        ...

    # -- publishing destinations -------------------------------------------------------------------

    def put_destination(self, record: DestinationRecord) -> None:
        """Insert or replace a publishing destination."""
        ...

    def get_destination(self, detector_id: str, destination_id: str) -> DestinationRecord | None:
        """A destination by id; None when it does not exist."""
        ...

    def delete_destination(self, detector_id: str, destination_id: str) -> bool:
        """Delete a destination; False when it did not exist."""
        ...

    def list_destinations(self, detector_id: str | None) -> list[DestinationRecord]:
        """Destinations of one detector (or all), oldest first."""
        ...
