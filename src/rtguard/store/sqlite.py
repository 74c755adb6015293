"""``SqlStore``: the :class:`~rtguard.store.base.Store` on SQLAlchemy Core, for SQLite
(``sqlite:///path``, the embedded default) and PostgreSQL (``postgresql+psycopg://…``, the
scale-out mode), written with portable statements; what differs per backend (engine settings,
advisory locks) is in :mod:`rtguard.store.engine`. (The module keeps its historical name.)

Findings are stored as their JSON document plus indexed columns; conditions on those columns are
pushed down into SQL to narrow the scan, and every candidate is then re-checked with
:func:`rtguard.store.query.matches`, so results and paging are the same whichever conditions have a
column. This module owns connections and transactions; it must not know HTTP wire names or build
findings (``api`` and ``findings`` do).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Column, ColumnElement, Connection, func, select
from sqlalchemy.exc import IntegrityError

from rtguard.store import ids
from rtguard.store.base import DEFAULT_SORT, EventRow, FindingUpsert, UnknownAccountError
from rtguard.store.coverage import CoverageStoreMixin
from rtguard.store.engine import APPEND_LOCK, build_engine, xact_lock
from rtguard.store.organizations import OrganizationStoreMixin
from rtguard.store.query import (
    Condition,
    FindingPage,
    Op,
    Scope,
    SortSpec,
    decode_token,
    encode_token,
    iso_to_ms,
    matches,
    page_after,
    scope_key,
    sort_docs,
    values_at,
)
from rtguard.store.schema import (
    access_keys,
    accounts,
    agent_tokens,
    batches,
    cursors,
    detectors,
    findings,
    in_scope,
    migrate,
)
from rtguard.store.schema import events as event_log
from rtguard.store.schema_bus import applied_messages
from rtguard.store.sql_lifecycle import SqlLifecycleMixin
from rtguard.store.stats import GroupBy, count_by_severity, grouped_statistics
from rtguard.store.usage import UsageStoreMixin

__all__ = ["SqlStore"]

_SERVICE_ROLE: Final = (
    "arn:aws:iam::{account}:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"
)
# Agent management for Fargate (sidecar injection) and EC2 (host agent) is ours; EKS add-on is not.
_RUNTIME_ADDITIONAL: Final = (
    ("ECS_FARGATE_AGENT_MANAGEMENT", "ENABLED"),
    ("EC2_AGENT_MANAGEMENT", "ENABLED"),
    ("EKS_ADDON_MANAGEMENT", "DISABLED"),
)

# Finding fields with their own column, and how a condition value compares with the column.
_TEXT, _NUMBER, _MS, _BOOL = "text", "number", "ms", "bool"
_COLUMNS: Final[Mapping[str, tuple[Column[Any], str]]] = {
    "id": (findings.c.finding_id, _TEXT),
    "type": (findings.c.type, _TEXT),
    "accountId": (findings.c.account_id, _TEXT),
    "region": (findings.c.region, _TEXT),
    "severity": (findings.c.severity, _NUMBER),
    "createdAt": (findings.c.created_ms, _MS),
    "updatedAt": (findings.c.updated_ms, _MS),
    "service.archived": (findings.c.archived, _BOOL),
    "resource.resourceType": (findings.c.resource_type, _TEXT),
    "resource.ecsClusterDetails.name": (findings.c.cluster_name, _TEXT),
    "resource.instanceDetails.instanceId": (findings.c.instance_id, _TEXT),
    "resource.containerDetails.image": (findings.c.container_image, _TEXT),
}
_RANGE_SQL: Final[Mapping[Op, Callable[[Column[Any], int], ColumnElement[bool]]]] = {
    Op.GT: lambda c, b: c > b,
    Op.GTE: lambda c, b: c >= b,
    Op.LT: lambda c, b: c < b,
    Op.LTE: lambda c, b: c <= b,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SqlStore(SqlLifecycleMixin, CoverageStoreMixin, OrganizationStoreMixin, UsageStoreMixin):
    """The SQL implementation of :class:`~rtguard.store.base.Store` (see there for each method).

    Thread-safe: each call runs in its own pooled connection and transaction. Writes on SQLite take
    the write lock up front (``BEGIN IMMEDIATE``) and wait up to 10 s for it, so concurrent writers
    queue instead of failing. ``sqlite://`` (in memory) shares one connection behind a lock; use a
    file for anything real. On PostgreSQL (READ COMMITTED) the same guarantees come from row locks
    (``SELECT … FOR UPDATE`` on findings), unique keys with a retry (a concurrent insert of the same
    batch or finding), and advisory locks (event-log appends, migrations), so several processes can
    share one database.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:////var/lib/rtguard/rtguard.db`` or
            ``postgresql+psycopg://rtguard@db.internal/rtguard`` (``postgresql://`` means psycopg 3).
        clock: source of "now" for created/updated timestamps (tests pass a fake clock).
    """

    def __init__(self, url: str, clock: Callable[[], datetime] = _utc_now) -> None:
        built = build_engine(url)
        self._clock = clock
        self._sqlite = built.sqlite
        self._lock = built.lock
        self._engine = built.engine
        try:
            with self._write() as conn:
                migrate(conn)
        except BaseException:
            self._engine.dispose()  # no pooled connection outlives a store that failed to open
            raise

    # -- transactions ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock, self._engine.connect() as conn:
            conn.execution_options(rtguard_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._lock, self._engine.connect() as conn, conn.begin():
            yield conn

    def _now(self) -> str:
        return ids.iso(self._clock())

    def _clock_epoch(self) -> float:
        return self._clock().timestamp()

    def close(self) -> None:
        self._engine.dispose()

    # -- accounts and credentials ------------------------------------------------------------------

    def create_account(self, account_id: str, region: str) -> None:
        if not ids.is_account_id(account_id):
            raise ValueError(f"account id must be 12 digits, got {account_id!r}")
        with self._write() as conn:
            existing = conn.execute(
                select(accounts.c.region).where(accounts.c.account_id == account_id)
            ).scalar()
            if existing is None:
                conn.execute(
                    accounts.insert().values(account_id=account_id, region=region, created_at=self._now())
                )
            elif existing != region:
                raise ValueError(f"account {account_id} exists in region {existing}, not {region}")

    def get_account_region(self, account_id: str) -> str | None:
        with self._read() as conn:
            region = conn.execute(
                select(accounts.c.region).where(accounts.c.account_id == account_id)
            ).scalar()
        return None if region is None else str(region)

    def _require_account(self, conn: Connection, account_id: str) -> None:
        found = conn.execute(select(accounts.c.account_id).where(accounts.c.account_id == account_id))
        if found.first() is None:
            raise UnknownAccountError(account_id)

    def create_access_key(self, account_id: str) -> tuple[str, str]:
        key_id, secret = ids.new_access_key_id(), ids.new_secret_key()
        with self._write() as conn:
            self._require_account(conn, account_id)
            conn.execute(
                access_keys.insert().values(
                    key_id=key_id, account_id=account_id, secret=secret, created_at=self._now()
                )
            )
        return key_id, secret

    def lookup_secret(self, access_key_id: str) -> tuple[str, str] | None:
        with self._read() as conn:
            row = conn.execute(
                select(access_keys.c.account_id, access_keys.c.secret).where(
                    access_keys.c.key_id == access_key_id
                )
            ).first()
        return None if row is None else (str(row.account_id), str(row.secret))

    def create_agent_token(self, account_id: str) -> str:
        token = ids.new_agent_token()
        with self._write() as conn:
            self._require_account(conn, account_id)
            conn.execute(
                agent_tokens.insert().values(
                    token_sha256=ids.token_digest(token), account_id=account_id, created_at=self._now()
                )
            )
        return token

    def lookup_agent_token(self, token: str) -> str | None:
        with self._read() as conn:
            account = conn.execute(
                select(agent_tokens.c.account_id).where(
                    agent_tokens.c.token_sha256 == ids.token_digest(token)
                )
            ).scalar()
        return None if account is None else str(account)

    # -- detectors ---------------------------------------------------------------------------------

    def create_detector(self, account_id: str, tags: Mapping[str, str] | None = None) -> str:
        detector_id = ids.new_detector_id()
        moment = self._clock()
        now, epoch = ids.iso(moment), moment.timestamp()
        features = [
            {
                "name": "RUNTIME_MONITORING",
                "status": "ENABLED",
                "updatedAt": epoch,
                "additionalConfiguration": [
                    {"name": name, "status": status, "updatedAt": epoch}
                    for name, status in _RUNTIME_ADDITIONAL
                ],
            }
        ]
        with self._write() as conn:
            self._require_account(conn, account_id)
            last = conn.execute(
                select(func.max(detectors.c.ordinal)).where(detectors.c.account_id == account_id)
            ).scalar()
            conn.execute(
                detectors.insert().values(
                    detector_id=detector_id,
                    account_id=account_id,
                    ordinal=(last or 0) + 1,
                    created_at=now,
                    updated_at=now,
                    status="ENABLED",
                    publishing_frequency="SIX_HOURS",
                    features_json=json.dumps(features),
                    tags_json=json.dumps(dict(tags or {})),
                )
            )
        return detector_id

    def list_detectors(self, account_id: str) -> list[str]:
        with self._read() as conn:
            rows = conn.execute(
                select(detectors.c.detector_id)
                .where(detectors.c.account_id == account_id)
                .order_by(detectors.c.ordinal)
            )
            return [str(r.detector_id) for r in rows]

    def get_detector(self, account_id: str, detector_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(
                select(detectors).where(
                    detectors.c.detector_id == detector_id, detectors.c.account_id == account_id
                )
            ).first()
        if row is None:
            return None
        return {
            "createdAt": row.created_at,
            "updatedAt": row.updated_at,
            "serviceRole": _SERVICE_ROLE.format(account=account_id),
            "status": row.status,
            "findingPublishingFrequency": row.publishing_frequency,
            "features": json.loads(row.features_json),
            "tags": json.loads(row.tags_json),
        }

    # -- ingest log --------------------------------------------------------------------------------

    def _batch_exists(self, conn: Connection, agent_id: str, seq: int) -> bool:
        found = conn.execute(
            select(batches.c.seq).where(batches.c.agent_id == agent_id, batches.c.seq == seq)
        )
        return found.first() is not None

    def record_batch(self, account_id: str, agent_id: str, seq: int, events: Sequence[str]) -> bool:
        try:
            with self._write() as conn:
                # Ids must commit in increasing order (see Store.events_after): one appender at a time.
                xact_lock(conn, APPEND_LOCK)
                if self._batch_exists(conn, agent_id, seq):
                    return False
                conn.execute(
                    batches.insert().values(
                        agent_id=agent_id,
                        seq=seq,
                        account_id=account_id,
                        event_count=len(events),
                        received_at=self._now(),
                    )
                )
                if events:
                    conn.execute(
                        event_log.insert(),
                        [
                            {"account_id": account_id, "agent_id": agent_id, "seq": seq, "body": body}
                            for body in events
                        ],
                    )
        except IntegrityError:
            # Another process recorded the same batch between our check and insert (PostgreSQL).
            with self._read() as conn:
                if self._batch_exists(conn, agent_id, seq):
                    return False
            raise
        return True

    def events_after(self, cursor_id: int, limit: int) -> list[EventRow]:
        with self._read() as conn:
            rows = conn.execute(
                select(event_log.c.id, event_log.c.account_id, event_log.c.body)
                .where(event_log.c.id > cursor_id)
                .order_by(event_log.c.id)
                .limit(limit)
            )
            return [EventRow(int(r.id), str(r.account_id), str(r.body)) for r in rows]

    def get_cursor(self, name: str) -> int:
        with self._read() as conn:
            position = conn.execute(select(cursors.c.position).where(cursors.c.name == name)).scalar()
        return 0 if position is None else int(position)

    def set_cursor(self, name: str, position: int) -> None:
        for _attempt in range(2):
            try:
                with self._write() as conn:
                    updated = conn.execute(
                        cursors.update().where(cursors.c.name == name).values(position=position)
                    )
                    if updated.rowcount == 0:
                        conn.execute(cursors.insert().values(name=name, position=position))
                return
            except IntegrityError:
                continue  # another process created the cursor meanwhile (PostgreSQL): update it
        raise RuntimeError(f"could not save cursor {name}")

    def count_events(self, agent_id: str | None = None) -> int:
        stmt = select(func.count()).select_from(event_log)
        if agent_id is not None:
            stmt = stmt.where(event_log.c.agent_id == agent_id)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    # -- findings ----------------------------------------------------------------------------------

    def upsert_finding(
        self, account_id: str, detector_id: str, finding_id: str, doc: Mapping[str, Any], seen_at: str
    ) -> tuple[dict[str, Any], bool]:
        for _attempt in range(2):
            try:
                with self._write() as conn:
                    return self._upsert_in(
                        conn,
                        account_id=account_id,
                        detector_id=detector_id,
                        finding_id=finding_id,
                        doc=doc,
                        seen_at=seen_at,
                    )
            except IntegrityError:
                # A concurrent insert of the same new id won (PostgreSQL); the retry aggregates.
                continue
        raise RuntimeError(f"could not upsert finding {finding_id}")

    def apply_findings_once(
        self, message_key: str, upserts: Sequence[FindingUpsert]
    ) -> list[tuple[dict[str, Any], bool]] | None:
        for _attempt in range(3):
            try:
                with self._write() as conn:
                    # The key's row is inserted first: a concurrent caller with the same key waits
                    # on it (PostgreSQL) and then fails on the primary key, rolling back its upserts.
                    done = conn.execute(
                        select(applied_messages.c.message_key).where(
                            applied_messages.c.message_key == message_key
                        )
                    ).first()
                    if done is not None:
                        return None
                    conn.execute(
                        applied_messages.insert().values(message_key=message_key, applied_at=self._now())
                    )
                    return [
                        self._upsert_in(
                            conn,
                            account_id=u.account_id,
                            detector_id=u.detector_id,
                            finding_id=u.finding_id,
                            doc=u.doc,
                            seen_at=u.seen_at,
                        )
                        for u in upserts
                    ]
            except IntegrityError:
                continue  # the same key (or a new finding id) was committed concurrently: look again
        raise RuntimeError(f"could not apply the findings of bus message {message_key}")

    def prune_applied(self, older_than: datetime) -> int:
        cutoff = ids.iso(older_than)  # fixed-width UTC text: compares like the times it names
        with self._write() as conn:
            return int(
                conn.execute(applied_messages.delete().where(applied_messages.c.applied_at < cutoff)).rowcount
            )

    def _upsert_in(
        self,
        conn: Connection,
        *,
        account_id: str,
        detector_id: str,
        finding_id: str,
        doc: Mapping[str, Any],
        seen_at: str,
    ) -> tuple[dict[str, Any], bool]:
        key = (findings.c.detector_id == detector_id, findings.c.finding_id == finding_id)
        current = conn.execute(select(findings.c.doc).where(*key).with_for_update()).scalar()
        if current is None:
            stored: dict[str, Any] = json.loads(json.dumps(doc))
            stored.setdefault("service", {})["count"] = 1
            conn.execute(
                findings.insert().values(
                    detector_id=detector_id, finding_id=finding_id, account_id=account_id, **_columns(stored)
                )
            )
            return stored, True
        stored = json.loads(current)
        service = stored.setdefault("service", {})
        service["count"] = int(service.get("count", 1)) + 1
        service["eventLastSeen"] = _later(service.get("eventLastSeen"), seen_at)
        if _is_before(seen_at, service.get("eventFirstSeen")):
            service["eventFirstSeen"] = seen_at
        stored["updatedAt"] = _later(stored.get("updatedAt"), seen_at)
        conn.execute(findings.update().where(*key).values(**_columns(stored)))
        return stored, False

    def get_findings(self, detector_id: Scope, finding_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not finding_ids:
            return []
        with self._read() as conn:
            rows = conn.execute(
                select(findings.c.finding_id, findings.c.doc).where(
                    in_scope(findings.c.detector_id, detector_id),
                    findings.c.finding_id.in_(list(finding_ids)),
                )
            )
            by_id = {str(r.finding_id): r.doc for r in rows}
        return [json.loads(by_id[i]) for i in dict.fromkeys(finding_ids) if i in by_id]

    def _matching(self, detector_id: Scope, conditions: Sequence[Condition]) -> list[dict[str, Any]]:
        stmt = select(findings.c.doc).where(
            in_scope(findings.c.detector_id, detector_id), *_pushdown(conditions)
        )
        with self._read() as conn:
            docs = [json.loads(body) for body in conn.execute(stmt).scalars()]
        return [d for d in docs if matches(d, conditions)]

    def query_findings(
        self,
        detector_id: Scope,
        conditions: Sequence[Condition],
        sort: SortSpec | None,
        max_results: int,
        next_token: str | None,
    ) -> FindingPage:
        if max_results < 1:
            raise ValueError("max_results must be at least 1")
        order = sort or DEFAULT_SORT
        scope = scope_key(detector_id)
        position = decode_token(next_token, scope, conditions, order) if next_token else None
        ordered = sort_docs(self._matching(detector_id, conditions), order)
        rest = page_after(ordered, order, position)
        page = rest[:max_results]
        token = encode_token(scope, conditions, order, page[-1]) if len(rest) > max_results else None
        return FindingPage(ids=[str(d["id"]) for d in page], next_token=token)

    def finding_statistics(
        self,
        detector_id: Scope,
        conditions: Sequence[Condition],
        group_by: GroupBy | None,
        descending: bool = True,
        max_results: int = 25,
    ) -> dict[str, Any]:
        docs = self._matching(detector_id, conditions)
        if group_by is None:
            return {"countBySeverity": count_by_severity(docs)}
        return grouped_statistics(docs, group_by, descending=descending, max_results=max_results)


def _later(current: Any, candidate: str) -> str:
    """The later of two ISO timestamps (``candidate`` when ``current`` is missing or unreadable)."""
    if not isinstance(current, str):
        return candidate
    current_ms, candidate_ms = iso_to_ms(current), iso_to_ms(candidate)
    if current_ms is None or candidate_ms is None:
        return candidate
    return current if current_ms > candidate_ms else candidate


def _is_before(candidate: str, current: Any) -> bool:
    """True when both are readable timestamps and ``candidate`` is strictly earlier."""
    if not isinstance(current, str):
        return False
    current_ms, candidate_ms = iso_to_ms(current), iso_to_ms(candidate)
    return current_ms is not None and candidate_ms is not None and candidate_ms < current_ms


def _first(doc: Mapping[str, Any], path: str) -> Any:
    found = values_at(doc, path)
    return found[0] if found else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _columns(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed columns of a finding document."""
    severity = doc.get("severity")
    created, updated = _text(doc.get("createdAt")), _text(doc.get("updatedAt"))
    return {
        "region": _text(doc.get("region")),
        "type": _text(doc.get("type")),
        "severity": float(severity)
        if isinstance(severity, int | float) and not isinstance(severity, bool)
        else None,
        "created_ms": iso_to_ms(created) if created else None,
        "updated_ms": iso_to_ms(updated) if updated else None,
        "archived": _first(doc, "service.archived") is True,
        "resource_type": _text(_first(doc, "resource.resourceType")),
        "cluster_name": _text(_first(doc, "resource.ecsClusterDetails.name")),
        "instance_id": _text(_first(doc, "resource.instanceDetails.instanceId")),
        "container_image": _text(_first(doc, "resource.containerDetails.image")),
        "doc": json.dumps(doc, separators=(",", ":")),
    }


def _pushdown(conditions: Sequence[Condition]) -> list[ColumnElement[bool]]:
    """SQL filters implied by the conditions that have a column.

    Each filter only narrows to a superset of the true matches (``matches`` re-checks every row),
    so a condition is pushed down only where SQL and Python agree exactly.
    """
    clauses: list[ColumnElement[bool]] = []
    for cond in conditions:
        spec = _COLUMNS.get(cond.field)
        if spec is None:
            continue
        column, kind = spec
        if cond.op is Op.EQ:
            clause = _eq_clause(column, kind, cond.values)
            if clause is not None:
                clauses.append(clause)
        elif cond.op in _RANGE_SQL and kind in (_NUMBER, _MS):
            clauses.append(_RANGE_SQL[cond.op](column, cond.bound))
    return clauses


def _eq_clause(column: Column[Any], kind: str, values: tuple[str, ...]) -> ColumnElement[bool] | None:
    if kind == _TEXT:
        return column.in_(values)
    if kind == _BOOL:
        lowered = {v.strip().lower() for v in values}
        if lowered <= {"true", "false"}:
            return column.in_([v == "true" for v in lowered])
        return None
    if kind == _NUMBER:
        try:
            return column.in_([float(v) for v in values])
        except ValueError:
            return None
    return None  # timestamps: equality on text or millis is left to Python
