"""Metering, the pure part: what a heartbeat says is being monitored (feature, billed resource,
vCPUs) and how many monitored vCPU-seconds the interval since the agent's previous heartbeat
adds, split at UTC hour boundaries.

Rules (``docs/usage.md``): the interval between two consecutive heartbeats of one agent is
credited with the vCPUs the earlier heartbeat reported, to the resource it named, only when
both heartbeats were monitored, capped at the agent timeout (a silent agent is never billed past
it); a retried heartbeat (same agent ``time``) credits nothing; a clock going backwards (the
server's or the agent's) credits nothing and restarts the agent's interval; a resource's
"credited until" watermark keeps two agents of one resource from counting it twice. Pure: no
clock (``now`` is an argument), no store, no I/O. Heartbeat fields are attacker-controlled and
are validated here; anything unusable makes the heartbeat unmetered with a reason, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from rtguard.store.usage import Accrual, UsageCredit, UsageCursor

__all__ = [
    "HOUR",
    "MAX_RESOURCE",
    "MAX_VCPUS",
    "Feature",
    "Observation",
    "Outcome",
    "accrue",
    "observe",
    "split_hours",
]

HOUR: Final = 3600.0
MAX_VCPUS: Final = 4096.0  # larger than any EC2 instance; anything above is a lie
MAX_RESOURCE: Final = 512  # the column's size


class Feature(StrEnum):
    """GuardDuty's runtime usage features (``UsageFeature``)."""

    FARGATE = "FARGATE_RUNTIME_MONITORING"
    EC2 = "EC2_RUNTIME_MONITORING"
    EKS = "EKS_RUNTIME_MONITORING"


class Outcome(StrEnum):
    """What metering did with a heartbeat (the reason label of the counters)."""

    CREDITED = "credited"
    FIRST = "first_heartbeat"
    DUPLICATE = "duplicate"
    CLOCK_BACKWARDS = "clock_backwards"
    AGENT_CLOCK_BACKWARDS = "agent_clock_backwards"
    ACCOUNT_CHANGED = "account_changed"
    NOT_MONITORED = "not_monitored"
    NO_VCPUS = "no_vcpus"
    ALREADY_COUNTED = "already_counted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One heartbeat as metering reads it. ``vcpus`` is None when the heartbeat does not say
    (an older agent, a sidecar without task-level CPU) or says something impossible."""

    agent_id: str
    account_id: str
    feature: Feature
    resource: str
    vcpus: float | None
    monitored: bool
    agent_time: float | None


def _number(value: Any) -> float | None:
    """A finite number from JSON (int, float or numeric text); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value) <= 32:
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _vcpus(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and 0 < number <= MAX_VCPUS else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def observe(account_id: str, beat: Mapping[str, Any], *, monitored: bool) -> Observation:
    """Read a heartbeat: Fargate sidecars bill the task's vCPUs (``resource.task_cpu``) to the
    task ARN; host agents bill the host's vCPUs (``host_vcpus``) to the instance id (else
    ``host/<hostname>``), as EKS when the heartbeat names an EKS cluster, else as EC2."""
    res = beat.get("resource")
    resource: Mapping[str, Any] = res if isinstance(res, Mapping) else {}
    agent_id = _text(beat.get("agent_id"))
    sidecar = resource.get("mode") == "sidecar" or (
        bool(resource.get("task_arn")) and not resource.get("container_instance_arn")
    )
    if sidecar:
        feature, name, vcpus = (
            Feature.FARGATE,
            _text(resource.get("task_arn")),
            _vcpus(resource.get("task_cpu")),
        )
    else:
        eks = _text(beat.get("eks_cluster_name")) or _text(resource.get("eks_cluster_name"))
        host = _text(beat.get("hostname")) or agent_id
        name = _text(beat.get("instance_id")) or f"host/{host}"
        feature, vcpus = (Feature.EKS if eks else Feature.EC2), _vcpus(beat.get("host_vcpus"))
    if not name or len(name) > MAX_RESOURCE:
        name, vcpus = name[:MAX_RESOURCE], None
    return Observation(
        agent_id=agent_id,
        account_id=account_id,
        feature=feature,
        resource=name,
        vcpus=vcpus,
        monitored=monitored,
        agent_time=_number(beat.get("time")),
    )


def split_hours(start: float, end: float) -> list[tuple[float, float]]:
    """``[start, end)`` as (hour start, seconds in that hour) pieces, oldest first."""
    pieces: list[tuple[float, float]] = []
    at = start
    while at < end:
        hour = math.floor(at / HOUR) * HOUR
        stop = min(end, hour + HOUR)
        pieces.append((hour, stop - at))
        at = stop
    return pieces


def accrue(
    prev: UsageCursor | None, mark: float | None, obs: Observation, *, now: float, timeout: float
) -> Accrual:
    """The accrual of one heartbeat received at ``now`` (epoch seconds).

    Args:
        prev: the agent's previous cursor (None for its first heartbeat).
        mark: the "credited until" watermark of ``prev``'s resource (None: never credited).
        obs: the heartbeat.
        timeout: the agent timeout: the most one interval can credit.
    """
    cursor = UsageCursor(
        agent_id=obs.agent_id,
        account_id=obs.account_id,
        feature=obs.feature.value,
        resource=obs.resource,
        vcpus=obs.vcpus,
        monitored=obs.monitored,
        server_time=now,
        agent_time=obs.agent_time,
    )
    trial = (obs.account_id, obs.feature.value, now) if obs.monitored and obs.vcpus is not None else None
    if prev is None:
        return Accrual(outcome=Outcome.FIRST, cursor=cursor, trial=trial)
    if obs.agent_time is not None and prev.agent_time is not None:
        # Compared in whole milliseconds: the store keeps the agent's time to the millisecond.
        this, last = round(obs.agent_time * 1000), round(prev.agent_time * 1000)
        if this == last:
            return Accrual(outcome=Outcome.DUPLICATE)
        if this < last:
            return Accrual(outcome=Outcome.AGENT_CLOCK_BACKWARDS, cursor=cursor, trial=trial)
    if now < prev.server_time:
        # The resource's watermark is in the server's "future" too: bring it back to now, or
        # every agent of the resource would credit nothing until the clock caught up.
        return Accrual(outcome=Outcome.CLOCK_BACKWARDS, cursor=cursor, credited_until=now, trial=trial)
    if prev.account_id != obs.account_id:
        # An agent id now heard under another account's token: bill neither account for the gap.
        return Accrual(outcome=Outcome.ACCOUNT_CHANGED, cursor=cursor, trial=trial)
    if not (prev.monitored and obs.monitored):
        return Accrual(outcome=Outcome.NOT_MONITORED, cursor=cursor, trial=trial)
    if prev.vcpus is None:
        return Accrual(outcome=Outcome.NO_VCPUS, cursor=cursor, trial=trial)
    start = prev.server_time if mark is None else max(prev.server_time, mark)
    end = min(now, prev.server_time + max(0.0, timeout))
    if end <= start:
        return Accrual(outcome=Outcome.ALREADY_COUNTED, cursor=cursor, trial=trial)
    credits = tuple(
        UsageCredit(
            account_id=prev.account_id,
            feature=prev.feature,
            resource=prev.resource,
            hour=hour,
            vcpu_seconds=seconds * prev.vcpus,
        )
        for hour, seconds in split_hours(start, end)
    )
    return Accrual(outcome=Outcome.CREDITED, cursor=cursor, credits=credits, credited_until=end, trial=trial)
