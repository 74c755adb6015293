"""``UsageStoreMixin``: the usage-metering methods of ``SqlStore``: apply one heartbeat's
accrual (cursor, credits, watermark, trial start) in one transaction, and read the hourly
vCPU-seconds and free-trial starts back for the API.

The accrual itself is decided by a pure function the caller passes in (``rtguard.usage.accrual``);
this module only loads what that function needs and saves what it returns, atomically. It is mixed
into ``SqlStore`` and uses its transaction helpers; it must not decide what is billed, price
anything or know HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import Connection, Row, delete, insert, select

from rtguard.store.schema_usage import usage_agents, usage_hours, usage_resources, usage_trials

__all__ = [
    "Accrual",
    "UsageCredit",
    "UsageCursor",
    "UsageReader",
    "UsageRow",
    "UsageStoreMixin",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageCursor:
    """One agent's last heartbeat as metering saw it (times in epoch seconds)."""

    agent_id: str
    account_id: str
    feature: str
    resource: str
    vcpus: float | None
    monitored: bool
    server_time: float
    agent_time: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageCredit:
    """Monitored vCPU-seconds to add to one account, feature, resource and hour (its start)."""

    account_id: str
    feature: str
    resource: str
    hour: float
    vcpu_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Accrual:
    """What one heartbeat changes: the agent's new cursor (None: leave it), credits, the new
    watermark of the credited resource (None: leave it), the trial to start if not started
    (``(account, feature, epoch seconds)``) and the outcome, a reason word for counters."""

    outcome: str
    cursor: UsageCursor | None = None
    credits: tuple[UsageCredit, ...] = ()
    credited_until: float | None = None
    trial: tuple[str, str, float] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRow:
    """Stored usage of one account, feature, resource and hour."""

    account_id: str
    feature: str
    resource: str
    hour: float
    vcpu_seconds: float


@runtime_checkable
class UsageReader(Protocol):
    """What the usage API operations read."""

    def usage_rows(self, account_ids: Sequence[str], since: float) -> list[UsageRow]: ...

    def trial_starts(self, account_id: str) -> dict[str, float]: ...

    def usage_now(self) -> float: ...


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _cursor_of(row: Row[Any]) -> UsageCursor:
    return UsageCursor(
        agent_id=str(row.agent_id),
        account_id=str(row.account_id),
        feature=str(row.feature),
        resource=str(row.resource),
        vcpus=None if row.vcpus is None else float(row.vcpus),
        monitored=bool(row.monitored),
        server_time=row.server_ms / 1000,
        agent_time=None if row.agent_ms is None else row.agent_ms / 1000,
    )


class UsageStoreMixin:
    """Usage methods for ``SqlStore``. Thread-safe like the store (one transaction per call)."""

    if TYPE_CHECKING:

        def _write(self) -> contextlib.AbstractContextManager[Connection]: ...

        def _read(self) -> contextlib.AbstractContextManager[Connection]: ...

        def _clock_epoch(self) -> float: ...

    def accrue_usage(
        self, agent_id: str, step: Callable[[UsageCursor | None, float | None], Accrual]
    ) -> Accrual:
        """Run ``step(previous cursor, watermark of its resource)`` and save its result, all in
        one write transaction (so concurrent heartbeats of agents sharing a resource serialise)."""
        with self._write() as conn:
            row = conn.execute(select(usage_agents).where(usage_agents.c.agent_id == agent_id)).first()
            prev = None if row is None else _cursor_of(row)
            mark: float | None = None
            if prev is not None:
                found = conn.execute(
                    select(usage_resources.c.credited_until_ms).where(
                        usage_resources.c.account_id == prev.account_id,
                        usage_resources.c.feature == prev.feature,
                        usage_resources.c.resource == prev.resource,
                    )
                ).scalar()
                mark = None if found is None else found / 1000
            result = step(prev, mark)
            if result.cursor is not None:
                self._save_cursor(conn, result.cursor, exists=prev is not None)
            for credit in result.credits:
                self._add_credit(conn, credit)
            if result.credited_until is not None and prev is not None:
                self._save_mark(conn, prev, result.credited_until, exists=mark is not None)
            if result.trial is not None:
                self._start_trial(conn, *result.trial)
        return result

    @staticmethod
    def _save_cursor(conn: Connection, cursor: UsageCursor, *, exists: bool) -> None:
        values = {
            "account_id": cursor.account_id,
            "feature": cursor.feature,
            "resource": cursor.resource,
            "vcpus": cursor.vcpus,
            "monitored": cursor.monitored,
            "server_ms": _ms(cursor.server_time),
            "agent_ms": None if cursor.agent_time is None else _ms(cursor.agent_time),
        }
        if exists:
            conn.execute(
                usage_agents.update().where(usage_agents.c.agent_id == cursor.agent_id).values(values)
            )
        else:
            conn.execute(insert(usage_agents).values(agent_id=cursor.agent_id, **values))

    @staticmethod
    def _add_credit(conn: Connection, credit: UsageCredit) -> None:
        key = (
            usage_hours.c.account_id == credit.account_id,
            usage_hours.c.feature == credit.feature,
            usage_hours.c.resource == credit.resource,
            usage_hours.c.hour_ms == _ms(credit.hour),
        )
        done = conn.execute(
            usage_hours.update()
            .where(*key)
            .values(vcpu_seconds=usage_hours.c.vcpu_seconds + credit.vcpu_seconds)
        )
        if not done.rowcount:
            conn.execute(
                insert(usage_hours).values(
                    account_id=credit.account_id,
                    feature=credit.feature,
                    resource=credit.resource,
                    hour_ms=_ms(credit.hour),
                    vcpu_seconds=credit.vcpu_seconds,
                )
            )

    @staticmethod
    def _save_mark(conn: Connection, prev: UsageCursor, until: float, *, exists: bool) -> None:
        if exists:
            conn.execute(
                usage_resources.update()
                .where(
                    usage_resources.c.account_id == prev.account_id,
                    usage_resources.c.feature == prev.feature,
                    usage_resources.c.resource == prev.resource,
                )
                .values(credited_until_ms=_ms(until))
            )
        else:
            conn.execute(
                insert(usage_resources).values(
                    account_id=prev.account_id,
                    feature=prev.feature,
                    resource=prev.resource,
                    credited_until_ms=_ms(until),
                )
            )

    @staticmethod
    def _start_trial(conn: Connection, account_id: str, feature: str, at: float) -> None:
        found = conn.execute(
            select(usage_trials.c.started_ms).where(
                usage_trials.c.account_id == account_id, usage_trials.c.feature == feature
            )
        ).first()
        if found is None:
            conn.execute(
                insert(usage_trials).values(account_id=account_id, feature=feature, started_ms=_ms(at))
            )

    def prune_usage(self, *, cursors_before: float, hours_before: float) -> tuple[int, int]:
        """Forget agent cursors and resource watermarks not advanced since ``cursors_before``
        and hourly usage older than ``hours_before`` (epoch seconds). Trial starts are kept
        forever. Returns (cursors, hours) deleted."""
        with self._write() as conn:
            gone = conn.execute(
                delete(usage_agents).where(usage_agents.c.server_ms < _ms(cursors_before))
            ).rowcount
            conn.execute(
                delete(usage_resources).where(usage_resources.c.credited_until_ms < _ms(cursors_before))
            )
            old = conn.execute(delete(usage_hours).where(usage_hours.c.hour_ms < _ms(hours_before))).rowcount
        return int(gone), int(old)

    def usage_rows(self, account_ids: Sequence[str], since: float) -> list[UsageRow]:
        """Usage of ``account_ids`` in hours that end after ``since`` (epoch seconds), in key order."""
        if not account_ids:
            return []
        with self._read() as conn:
            rows = conn.execute(
                select(usage_hours)
                .where(
                    usage_hours.c.account_id.in_(list(account_ids)),
                    usage_hours.c.hour_ms > _ms(since) - 3_600_000,
                )
                .order_by(
                    usage_hours.c.account_id,
                    usage_hours.c.feature,
                    usage_hours.c.resource,
                    usage_hours.c.hour_ms,
                )
            )
            return [
                UsageRow(
                    account_id=str(r.account_id),
                    feature=str(r.feature),
                    resource=str(r.resource),
                    hour=r.hour_ms / 1000,
                    vcpu_seconds=float(r.vcpu_seconds),
                )
                for r in rows
            ]

    def trial_starts(self, account_id: str) -> dict[str, float]:
        """When each feature's free trial started for the account (epoch seconds), by feature."""
        with self._read() as conn:
            rows = conn.execute(select(usage_trials).where(usage_trials.c.account_id == account_id))
            return {str(r.feature): r.started_ms / 1000 for r in rows}

    def usage_now(self) -> float:
        """ "Now" for usage windows and trials, from the store's clock (tests inject it)."""
        return self._clock_epoch()
