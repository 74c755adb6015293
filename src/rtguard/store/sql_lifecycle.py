"""``SqlLifecycleMixin``: the :class:`~rtguard.store.lifecycle.LifecycleStore` methods of
``SqlStore`` on SQLAlchemy Core (archive and feedback state, retention, detector updates and
deletion, filters, IPSets and ThreatIntelSets, publishing destinations).

It is mixed into ``SqlStore`` and uses its transaction helpers (``_write``, ``_read``, ``_now``);
it must not open engines of its own, know HTTP wire shapes beyond stored JSON, or decide policy
(limits, validation and defaults are the API's).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, select

from rtguard.store.lifecycle import (
    DestinationRecord,
    DetectorChanges,
    DuplicateError,
    FilterRecord,
    IntelKind,
    IntelSetRecord,
)
from rtguard.store.query import Scope
from rtguard.store.schema import (
    detectors,
    finding_filters,
    findings,
    in_scope,
    intel_sets,
    publishing_destinations,
)

__all__ = ["SqlLifecycleMixin"]


def _filter_of(row: Row[Any]) -> FilterRecord:
    return FilterRecord(
        detector_id=row.detector_id,
        account_id=row.account_id,
        name=row.name,
        description=row.description,
        action=row.action,
        rank=int(row.rank),
        criteria=json.loads(row.criteria_json),
        tags=json.loads(row.tags_json),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _intel_of(row: Row[Any]) -> IntelSetRecord:
    return IntelSetRecord(
        set_id=row.set_id,
        detector_id=row.detector_id,
        account_id=row.account_id,
        kind=IntelKind(row.kind),
        name=row.name,
        format=row.format,
        location=row.location,
        status=row.status,
        error=row.error,
        entries=json.loads(row.entries_json),
        tags=json.loads(row.tags_json),
        expected_owner=row.expected_owner,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _destination_of(row: Row[Any]) -> DestinationRecord:
    return DestinationRecord(
        destination_id=row.destination_id,
        detector_id=row.detector_id,
        account_id=row.account_id,
        destination_type=row.destination_type,
        properties=json.loads(row.properties_json),
        status=row.status,
        failure_start_ms=int(row.failure_start_ms),
        tags=json.loads(row.tags_json),
        created_at=row.created_at,
    )


class SqlLifecycleMixin:
    """Lifecycle methods for ``SqlStore`` (see ``LifecycleStore`` for each method's contract)."""

    if TYPE_CHECKING:

        def _write(self) -> contextlib.AbstractContextManager[Connection]: ...

        def _read(self) -> contextlib.AbstractContextManager[Connection]: ...

        def _now(self) -> str: ...

    # -- findings ----------------------------------------------------------------------------------

    def _rewrite_findings(
        self, detector_id: Scope, finding_ids: Sequence[str], change: Callable[[dict[str, Any]], None]
    ) -> int:
        if not finding_ids:
            return 0
        key = (in_scope(findings.c.detector_id, detector_id), findings.c.finding_id.in_(list(finding_ids)))
        with self._write() as conn:
            rows = conn.execute(
                select(findings.c.detector_id, findings.c.finding_id, findings.c.doc).where(*key)
            ).all()
            for row in rows:
                doc: dict[str, Any] = json.loads(row.doc)
                change(doc)
                archived = doc.get("service", {}).get("archived") is True
                conn.execute(
                    findings.update()
                    .where(findings.c.detector_id == row.detector_id, findings.c.finding_id == row.finding_id)
                    .values(doc=json.dumps(doc, separators=(",", ":")), archived=archived)
                )
        return len(rows)

    def set_archived(self, detector_id: Scope, finding_ids: Sequence[str], archived: bool) -> int:
        def change(doc: dict[str, Any]) -> None:
            doc.setdefault("service", {})["archived"] = archived

        return self._rewrite_findings(detector_id, finding_ids, change)

    def set_feedback(self, detector_id: Scope, finding_ids: Sequence[str], feedback: str) -> int:
        def change(doc: dict[str, Any]) -> None:
            doc.setdefault("service", {})["userFeedback"] = feedback

        return self._rewrite_findings(detector_id, finding_ids, change)

    def delete_findings_updated_before(self, cutoff_ms: int) -> int:
        with self._write() as conn:
            result = conn.execute(delete(findings).where(findings.c.updated_ms < cutoff_ms))
            return int(result.rowcount or 0)

    # -- detectors ---------------------------------------------------------------------------------

    def update_detector(self, account_id: str, detector_id: str, changes: DetectorChanges) -> bool:
        values: dict[str, Any] = {"updated_at": self._now()}
        if changes.status is not None:
            values["status"] = changes.status
        if changes.publishing_frequency is not None:
            values["publishing_frequency"] = changes.publishing_frequency
        if changes.features is not None:
            values["features_json"] = json.dumps([dict(f) for f in changes.features])
        with self._write() as conn:
            result = conn.execute(
                detectors.update()
                .where(detectors.c.detector_id == detector_id, detectors.c.account_id == account_id)
                .values(**values)
            )
            return bool(result.rowcount)

    def delete_detector(self, account_id: str, detector_id: str) -> bool:
        with self._write() as conn:
            result = conn.execute(
                delete(detectors).where(
                    detectors.c.detector_id == detector_id, detectors.c.account_id == account_id
                )
            )
            if not result.rowcount:
                return False
            for table in (findings, finding_filters, intel_sets, publishing_destinations):
                conn.execute(delete(table).where(table.c.detector_id == detector_id))
        return True

    def detector_frequency(self, detector_id: str) -> str | None:
        with self._read() as conn:
            found = conn.execute(
                select(detectors.c.publishing_frequency).where(detectors.c.detector_id == detector_id)
            ).scalar()
        return None if found is None else str(found)

    # -- filters -----------------------------------------------------------------------------------

    def put_filter(self, record: FilterRecord, *, new: bool) -> None:
        now = self._now()
        values = {
            "account_id": record.account_id,
            "description": record.description,
            "action": record.action,
            "rank": record.rank,
            "criteria_json": json.dumps(record.criteria),
            "tags_json": json.dumps(dict(record.tags)),
            "updated_at": now,
        }
        key = (finding_filters.c.detector_id == record.detector_id, finding_filters.c.name == record.name)
        with self._write() as conn:
            exists = conn.execute(select(finding_filters.c.name).where(*key)).first() is not None
            if new and exists:
                raise DuplicateError(record.name)
            if exists:
                conn.execute(finding_filters.update().where(*key).values(**values))
            else:
                conn.execute(
                    finding_filters.insert().values(
                        detector_id=record.detector_id,
                        name=record.name,
                        created_at=record.created_at or now,
                        **values,
                    )
                )

    def get_filter(self, detector_id: str, name: str) -> FilterRecord | None:
        with self._read() as conn:
            row = conn.execute(
                select(finding_filters).where(
                    finding_filters.c.detector_id == detector_id, finding_filters.c.name == name
                )
            ).first()
        return None if row is None else _filter_of(row)

    def delete_filter(self, detector_id: str, name: str) -> bool:
        with self._write() as conn:
            result = conn.execute(
                delete(finding_filters).where(
                    finding_filters.c.detector_id == detector_id, finding_filters.c.name == name
                )
            )
            return bool(result.rowcount)

    def list_filters(self, detector_id: str) -> list[FilterRecord]:
        with self._read() as conn:
            rows = conn.execute(
                select(finding_filters)
                .where(finding_filters.c.detector_id == detector_id)
                .order_by(finding_filters.c.rank, finding_filters.c.created_at, finding_filters.c.name)
            ).all()
        return [_filter_of(r) for r in rows]

    # -- IPSets and ThreatIntelSets ----------------------------------------------------------------

    def put_intel_set(self, record: IntelSetRecord) -> None:
        now = self._now()
        values = {
            "detector_id": record.detector_id,
            "account_id": record.account_id,
            "kind": record.kind.value,
            "name": record.name,
            "format": record.format,
            "location": record.location,
            "status": record.status,
            "error": record.error,
            "entries_json": json.dumps(dict(record.entries)),
            "tags_json": json.dumps(dict(record.tags)),
            "expected_owner": record.expected_owner,
            "updated_at": now,
        }
        with self._write() as conn:
            updated = conn.execute(
                intel_sets.update().where(intel_sets.c.set_id == record.set_id).values(**values)
            )
            if not updated.rowcount:
                conn.execute(
                    intel_sets.insert().values(
                        set_id=record.set_id, created_at=record.created_at or now, **values
                    )
                )

    def get_intel_set(self, detector_id: str, kind: IntelKind, set_id: str) -> IntelSetRecord | None:
        with self._read() as conn:
            row = conn.execute(
                select(intel_sets).where(
                    intel_sets.c.set_id == set_id,
                    intel_sets.c.detector_id == detector_id,
                    intel_sets.c.kind == kind.value,
                )
            ).first()
        return None if row is None else _intel_of(row)

    def delete_intel_set(self, detector_id: str, kind: IntelKind, set_id: str) -> bool:
        with self._write() as conn:
            result = conn.execute(
                delete(intel_sets).where(
                    intel_sets.c.set_id == set_id,
                    intel_sets.c.detector_id == detector_id,
                    intel_sets.c.kind == kind.value,
                )
            )
            return bool(result.rowcount)

    def list_intel_sets(self, detector_id: str | None, kind: IntelKind | None) -> list[IntelSetRecord]:
        stmt = select(intel_sets).order_by(intel_sets.c.created_at, intel_sets.c.set_id)
        if detector_id is not None:
            stmt = stmt.where(intel_sets.c.detector_id == detector_id)
        if kind is not None:
            stmt = stmt.where(intel_sets.c.kind == kind.value)
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return [_intel_of(r) for r in rows]

    # -- publishing destinations -------------------------------------------------------------------

    def put_destination(self, record: DestinationRecord) -> None:
        values: Mapping[str, Any] = {
            "detector_id": record.detector_id,
            "account_id": record.account_id,
            "destination_type": record.destination_type,
            "properties_json": json.dumps(dict(record.properties)),
            "status": record.status,
            "failure_start_ms": record.failure_start_ms,
            "tags_json": json.dumps(dict(record.tags)),
        }
        table = publishing_destinations
        with self._write() as conn:
            updated = conn.execute(
                table.update().where(table.c.destination_id == record.destination_id).values(**values)
            )
            if not updated.rowcount:
                conn.execute(
                    table.insert().values(
                        destination_id=record.destination_id,
                        created_at=record.created_at or self._now(),
                        **values,
                    )
                )

    def get_destination(self, detector_id: str, destination_id: str) -> DestinationRecord | None:
        table = publishing_destinations
        with self._read() as conn:
            row = conn.execute(
                select(table).where(
                    table.c.destination_id == destination_id, table.c.detector_id == detector_id
                )
            ).first()
        return None if row is None else _destination_of(row)

    def delete_destination(self, detector_id: str, destination_id: str) -> bool:
        table = publishing_destinations
        with self._write() as conn:
            result = conn.execute(
                delete(table).where(
                    table.c.destination_id == destination_id, table.c.detector_id == detector_id
                )
            )
            return bool(result.rowcount)

    def list_destinations(self, detector_id: str | None) -> list[DestinationRecord]:
        table = publishing_destinations
        stmt = select(table).order_by(table.c.created_at, table.c.destination_id)
        if detector_id is not None:
            stmt = stmt.where(table.c.detector_id == detector_id)
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return [_destination_of(r) for r in rows]
