"""What happens to a finding between detection and the outside world: suppression (ARCHIVE
filters archive a matching finding on arrival and it is never published), filter match counts,
and hand-off of everything else to the publisher, whose outlets follow the publishing
destinations kept in the store (plus static ones from the command line).

``FindingsLifecycle`` serves both sources of findings, the detection worker (``admit`` before
the upsert, ``on_finding`` after it) and the API (sample findings, destination changes). It
must not detect, build findings or talk to destinations itself (``publish``/``outputs`` do).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from rtguard.api.criteria import parse_filter_criteria
from rtguard.api.errors import BadRequestError
from rtguard.findings.outputs import build_destination
from rtguard.findings.publish import OutletSpec, Publisher
from rtguard.store.lifecycle import FilterRecord, LifecycleStore
from rtguard.store.query import Condition, matches

__all__ = ["FindingHooks", "FindingsLifecycle"]

_log = logging.getLogger(__name__)
_STATIC_PREFIX = "static:"


class FindingHooks(Protocol):
    """What the API needs from the findings lifecycle."""

    def admit(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Before a *new* finding is stored: archive it if an ARCHIVE filter matches."""
        ...

    def on_finding(self, stored: dict[str, Any], created: bool) -> None:
        """After a finding was stored: publish it unless it is suppressed."""
        ...

    def destinations_changed(self) -> None:
        """Publishing destinations were created, changed or deleted in the store."""
        ...

    def check_destination(self, destination_type: str, arn: str) -> None:
        """Raise ``ValueError`` (with a message for the client) if the destination is unusable."""
        ...


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class FindingsLifecycle:
    """Suppression, filter accounting and publishing. Thread-safe.

    Args:
        store: filters, detectors and destinations.
        publisher: None to store findings without publishing anything.
        static: outlets configured outside the API (command line), by name.
        export_root: where S3-type destinations write (``DATA_DIR/exports``).
    """

    def __init__(
        self,
        store: LifecycleStore,
        publisher: Publisher | None = None,
        *,
        static: Mapping[str, OutletSpec] | None = None,
        export_root: Path | None = None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._static = dict(static or {})
        self._export_root = export_root
        self._lock = threading.Lock()
        self._specs: dict[str, OutletSpec] = {}
        self._fingerprints: dict[str, tuple[str, str]] = {}
        self.matched: Counter[str] = Counter()  # filter name → findings matched (NOOP and ARCHIVE)
        self.suppressed: Counter[str] = Counter()  # ARCHIVE filter name → findings suppressed
        self.counters: Counter[str] = Counter()

    # -- suppression -------------------------------------------------------------------------------

    def _conditions(self, record: FilterRecord) -> list[Condition] | None:
        try:
            return parse_filter_criteria(record.criteria)
        except BadRequestError:
            _log.warning("stored filter has invalid criteria", extra={"filter": record.name})
            return None

    def _archiving_filter(self, doc: Mapping[str, Any], *, count: bool = True) -> str | None:
        """The first (by rank) ARCHIVE filter matching ``doc``; counts NOOP matches on the way."""
        detector_id = str(doc.get("service", {}).get("detectorId", ""))
        archiving: str | None = None
        for record in self._store.list_filters(detector_id):
            conditions = self._conditions(record)
            if conditions is None or not matches(doc, conditions):
                continue
            if count:
                self.matched[record.name] += 1
            if record.action == "ARCHIVE" and archiving is None:
                archiving = record.name
        return archiving

    def admit(self, doc: dict[str, Any]) -> dict[str, Any]:
        name = self._archiving_filter(doc)
        if name is None:
            return doc
        self.suppressed[name] += 1
        admitted = dict(doc)
        admitted["service"] = {**doc.get("service", {}), "archived": True}
        return admitted

    def on_finding(self, stored: dict[str, Any], created: bool) -> None:
        archived = stored.get("service", {}).get("archived") is True
        if archived and self._suppressed_by_rule(stored):
            self.counters["suppressed"] += 1
            return
        if not archived and not created and self._archiving_filter(stored, count=False) is not None:
            # A recurrence of a finding created before the ARCHIVE filter existed.
            detector_id = str(stored.get("service", {}).get("detectorId", ""))
            self._store.set_archived(detector_id, [str(stored.get("id", ""))], True)
            self.counters["suppressed"] += 1
            return
        if self._publisher is not None:
            self._publisher.submit(stored, created)

    def on_coverage_event(self, event: dict[str, Any]) -> None:
        """Publish a "GuardDuty Runtime Protection Healthy/Unhealthy" event."""
        if self._publisher is not None:
            self._publisher.submit_event(event)

    def _suppressed_by_rule(self, stored: Mapping[str, Any]) -> bool:
        # Archived by hand (ArchiveFindings) keeps publishing, as in GuardDuty; archived by a rule
        # does not. Re-evaluating the rules tells the two apart without storing a flag.
        detector_id = str(stored.get("service", {}).get("detectorId", ""))
        for record in self._store.list_filters(detector_id):
            if record.action != "ARCHIVE":
                continue
            conditions = self._conditions(record)
            if conditions is not None and matches(stored, conditions):
                return True
        return False

    # -- destinations ------------------------------------------------------------------------------

    def check_destination(self, destination_type: str, arn: str) -> None:
        destination, _fmt = build_destination(destination_type, arn, self._export_root)
        destination.close()

    def destinations_changed(self) -> None:
        """Rebuild the publisher's outlets from the store and the static destinations."""
        if self._publisher is None:
            return
        with self._lock:
            specs: dict[str, OutletSpec] = {f"{_STATIC_PREFIX}{k}": v for k, v in self._static.items()}
            for record in self._store.list_destinations(None):
                arn = str(record.properties.get("destinationArn", ""))
                fingerprint = (record.destination_type, arn)
                existing = self._specs.get(record.destination_id)
                if existing is not None and self._fingerprints.get(record.destination_id) == fingerprint:
                    specs[record.destination_id] = existing
                    continue
                try:
                    destination, fmt = build_destination(record.destination_type, arn, self._export_root)
                except ValueError:
                    _log.warning(
                        "stored destination is invalid", extra={"destination": record.destination_id}
                    )
                    continue
                specs[record.destination_id] = OutletSpec(
                    destination=destination, format=fmt, detector_id=record.detector_id
                )
                self._fingerprints[record.destination_id] = fingerprint
            self._specs = {k: v for k, v in specs.items() if not k.startswith(_STATIC_PREFIX)}
            self._publisher.set_outlets(specs)

    def destination_status(self, key: str, failing_since_ms: int | None) -> None:
        """Publisher callback: record a destination's status in the store (Describe shows it)."""
        for record in self._store.list_destinations(None):
            if record.destination_id == key:
                status = (
                    "PUBLISHING" if failing_since_ms is None else "UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY"
                )
                self._store.put_destination(
                    replace(record, status=status, failure_start_ms=failing_since_ms or 0)
                )

    # -- metrics -----------------------------------------------------------------------------------

    def metrics_lines(self) -> list[str]:
        """Prometheus lines: suppression and filter matches, and the publisher's counters."""
        lines = [
            "# HELP rtguard_findings_suppressed_total Findings archived on arrival by an ARCHIVE filter.",
            "# TYPE rtguard_findings_suppressed_total counter",
        ]
        lines += [
            f'rtguard_findings_suppressed_total{{filter="{_escape(n)}"}} {c}'
            for n, c in sorted(self.suppressed.items())
        ]
        lines += [
            "# HELP rtguard_filter_matches_total Findings matching a filter (NOOP or ARCHIVE).",
            "# TYPE rtguard_filter_matches_total counter",
        ]
        lines += [
            f'rtguard_filter_matches_total{{filter="{_escape(n)}"}} {c}'
            for n, c in sorted(self.matched.items())
        ]
        if self._publisher is None:
            return lines
        published, failures, dropped = self._publisher.stats.snapshot()
        lines += [
            "# HELP rtguard_published_total Payloads delivered, by destination.",
            "# TYPE rtguard_published_total counter",
        ]
        lines += [
            f'rtguard_published_total{{destination="{_escape(d)}"}} {c}' for d, c in sorted(published.items())
        ]
        lines += [
            "# HELP rtguard_publish_failures_total Failed delivery attempts, by destination and reason.",
            "# TYPE rtguard_publish_failures_total counter",
        ]
        lines += [
            f'rtguard_publish_failures_total{{destination="{_escape(d)}",reason="{_escape(r)}"}} {c}'
            for (d, r), c in sorted(failures.items())
        ]
        lines += [
            "# HELP rtguard_publish_dropped_total Payloads given up on, by destination and reason.",
            "# TYPE rtguard_publish_dropped_total counter",
        ]
        lines += [
            f'rtguard_publish_dropped_total{{destination="{_escape(d)}",reason="{_escape(r)}"}} {c}'
            for (d, r), c in sorted(dropped.items())
        ]
        return lines

    # -- running -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the destinations and start the publisher's update timer."""
        self.destinations_changed()
        if self._publisher is not None:
            self._publisher.start()

    def stop(self) -> None:
        """Stop publishing (queued payloads are dropped as ``shutdown``)."""
        if self._publisher is not None:
            self._publisher.stop()


def build_lifecycle(
    store: LifecycleStore,
    *,
    static: Sequence[tuple[str, str]] = (),
    export_root: Path | None = None,
    queue_size: int = 1024,
) -> FindingsLifecycle:
    """A lifecycle with a publisher whose outlets are the store's destinations plus ``static``
    ``(destinationType, destinationArn)`` pairs (from the command line; every detector).

    Raises:
        ValueError: a static destination is unusable (the message says why).
    """
    specs: dict[str, OutletSpec] = {}
    for index, (destination_type, arn) in enumerate(static):
        destination, fmt = build_destination(destination_type, arn, export_root)
        specs[f"{index}:{destination_type}"] = OutletSpec(destination=destination, format=fmt)
    holder: list[FindingsLifecycle] = []

    def on_status(key: str, failing_since_ms: int | None) -> None:
        if holder and not key.startswith(_STATIC_PREFIX):
            holder[0].destination_status(key, failing_since_ms)

    publisher = Publisher(frequency_of=store.detector_frequency, queue_size=queue_size, on_status=on_status)
    lifecycle = FindingsLifecycle(store, publisher, static=specs, export_root=export_root)
    holder.append(lifecycle)
    return lifecycle
