"""``CoverageStoreMixin``: the coverage methods of ``SqlStore``: agents and their last heartbeat,
the ECS inventory the controller reports, and the last coverage state per resource, saved with
change detection so each Healthy/Unhealthy transition is reported exactly once.

It is mixed into ``SqlStore`` and uses its transaction helpers (``_write``, ``_read``); it must not
open engines, decide coverage status (``rtguard.coverage`` does) or know HTTP.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import Connection, delete, select

from rtguard.store.schema import detectors
from rtguard.store.schema_coverage import agents, coverage_state, inventory

__all__ = ["AgentRecord", "CoverageChange", "CoverageReader", "CoverageStoreMixin", "InventoryRecord"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRecord:
    """One agent: when it was first and last heard from (epoch seconds) and its last heartbeat."""

    agent_id: str
    account_id: str
    first_seen: float
    last_seen: float
    enabled: bool
    beat: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryRecord:
    """What the ECS controller reported about one cluster or instance."""

    account_id: str
    key: str
    kind: str
    reported: float
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageChange:
    """A resource whose coverage status changed (``previous`` is None for a new resource)."""

    account_id: str
    detector_id: str
    resource: dict[str, Any]
    previous: str | None
    current: str


@runtime_checkable
class CoverageReader(Protocol):
    """What the coverage API operations read."""

    def load_coverage(self, detector_id: str) -> list[dict[str, Any]]: ...


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class CoverageStoreMixin:
    """Coverage methods for ``SqlStore``. Thread-safe like the store (one transaction per call)."""

    if TYPE_CHECKING:

        def _write(self) -> contextlib.AbstractContextManager[Connection]: ...

        def _read(self) -> contextlib.AbstractContextManager[Connection]: ...

    # -- agents ------------------------------------------------------------------------------------

    def record_heartbeat(
        self, account_id: str, agent_id: str, beat: Mapping[str, Any], *, enabled: bool, now: float
    ) -> bool:
        """Save an agent's heartbeat; True when the agent was never seen before."""
        body = json.dumps(dict(beat), separators=(",", ":"), default=str)
        with self._write() as conn:
            updated = conn.execute(
                agents.update()
                .where(agents.c.agent_id == agent_id)
                .values(account_id=account_id, last_seen_ms=_ms(now), enabled=enabled, beat_json=body)
            )
            if updated.rowcount:
                return False
            conn.execute(
                agents.insert().values(
                    agent_id=agent_id,
                    account_id=account_id,
                    first_seen_ms=_ms(now),
                    last_seen_ms=_ms(now),
                    enabled=enabled,
                    beat_json=body,
                )
            )
        return True

    def list_agents(self, account_id: str) -> list[AgentRecord]:
        """Every agent of the account, in id order."""
        with self._read() as conn:
            rows = conn.execute(
                select(agents).where(agents.c.account_id == account_id).order_by(agents.c.agent_id)
            )
            return [
                AgentRecord(
                    agent_id=str(r.agent_id),
                    account_id=str(r.account_id),
                    first_seen=r.first_seen_ms / 1000,
                    last_seen=r.last_seen_ms / 1000,
                    enabled=bool(r.enabled),
                    beat=json.loads(r.beat_json),
                )
                for r in rows
            ]

    def forget_agents(self, last_seen_before: float) -> int:
        """Delete agents not heard from since ``last_seen_before``; returns how many."""
        with self._write() as conn:
            return int(
                conn.execute(delete(agents).where(agents.c.last_seen_ms < _ms(last_seen_before))).rowcount
            )

    # -- inventory ---------------------------------------------------------------------------------

    def replace_inventory(
        self, account_id: str, kind: str, docs: Mapping[str, Mapping[str, Any]], now: float
    ) -> None:
        """Replace every inventory record of ``kind`` in the account with ``docs`` (key → doc)."""
        with self._write() as conn:
            conn.execute(
                delete(inventory).where(inventory.c.account_id == account_id, inventory.c.kind == kind)
            )
            if docs:
                conn.execute(
                    inventory.insert(),
                    [
                        {
                            "account_id": account_id,
                            "resource_key": key,
                            "kind": kind,
                            "reported_ms": _ms(now),
                            "doc_json": json.dumps(dict(doc), separators=(",", ":"), default=str),
                        }
                        for key, doc in docs.items()
                    ],
                )

    def list_inventory(self, account_id: str) -> list[InventoryRecord]:
        """The account's inventory records, by kind then key."""
        with self._read() as conn:
            rows = conn.execute(
                select(inventory)
                .where(inventory.c.account_id == account_id)
                .order_by(inventory.c.kind, inventory.c.resource_key)
            )
            return [
                InventoryRecord(
                    account_id=str(r.account_id),
                    key=str(r.resource_key),
                    kind=str(r.kind),
                    reported=r.reported_ms / 1000,
                    doc=json.loads(r.doc_json),
                )
                for r in rows
            ]

    def coverage_accounts(self) -> list[str]:
        """Accounts that have agents or inventory (the ones coverage is computed for)."""
        with self._read() as conn:
            found = set(conn.execute(select(agents.c.account_id).distinct()).scalars())
            found |= set(conn.execute(select(inventory.c.account_id).distinct()).scalars())
        return sorted(str(a) for a in found)

    # -- coverage state ----------------------------------------------------------------------------

    def save_coverage(
        self, account_id: str, detector_id: str, resources: Sequence[Mapping[str, Any]], now: float
    ) -> list[CoverageChange]:
        """Make the detector's stored coverage equal ``resources`` (wire shape, keyed by
        ``resourceId``) and return the status changes.

        ``updatedAt`` is set to ``now`` when a resource is new or its status or issue changed, and
        kept otherwise (GuardDuty's semantics). Resources no longer present are deleted without a
        change record.
        """
        changes: list[CoverageChange] = []
        with self._write() as conn:
            rows = conn.execute(select(coverage_state).where(coverage_state.c.detector_id == detector_id))
            old = {str(r.resource_id): r for r in rows}
            seen: set[str] = set()
            for res in resources:
                rid = str(res["resourceId"])
                seen.add(rid)
                status, issue = str(res.get("coverageStatus", "")), str(res.get("issue", ""))
                prev = old.get(rid)
                changed = prev is None or prev.status != status or prev.issue != issue
                updated_ms = _ms(now) if changed or prev is None else int(prev.updated_ms)
                doc = {**dict(res), "updatedAt": updated_ms / 1000}
                body = json.dumps(doc, separators=(",", ":"), default=str)
                values = {"status": status, "issue": issue, "updated_ms": updated_ms, "doc_json": body}
                if prev is None:
                    conn.execute(
                        coverage_state.insert().values(
                            detector_id=detector_id, resource_id=rid, account_id=account_id, **values
                        )
                    )
                elif body != prev.doc_json:
                    conn.execute(
                        coverage_state.update()
                        .where(
                            coverage_state.c.detector_id == detector_id, coverage_state.c.resource_id == rid
                        )
                        .values(**values)
                    )
                if prev is None or prev.status != status:
                    changes.append(
                        CoverageChange(
                            account_id=account_id,
                            detector_id=detector_id,
                            resource=doc,
                            previous=None if prev is None else str(prev.status),
                            current=status,
                        )
                    )
            gone = [rid for rid in old if rid not in seen]
            if gone:
                conn.execute(
                    delete(coverage_state).where(
                        coverage_state.c.detector_id == detector_id, coverage_state.c.resource_id.in_(gone)
                    )
                )
        return changes

    def load_coverage(self, detector_id: str) -> list[dict[str, Any]]:
        """The detector's stored coverage resources (wire shape), in resource id order."""
        with self._read() as conn:
            rows = conn.execute(
                select(coverage_state.c.doc_json)
                .where(coverage_state.c.detector_id == detector_id)
                .order_by(coverage_state.c.resource_id)
            )
            return [json.loads(body) for body in rows.scalars()]

    def set_runtime_features(
        self, account_id: str, detector_id: str, features: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Replace the detector's ``features`` (GetDetector's shape); False when it does not exist.

        A minimal setter for coverage and enablement tests; UpdateDetector owns the full semantics.
        """
        with self._write() as conn:
            done = conn.execute(
                detectors.update()
                .where(detectors.c.detector_id == detector_id, detectors.c.account_id == account_id)
                .values(features_json=json.dumps([dict(f) for f in features]))
            )
            return bool(done.rowcount)
