"""Display shapes of the fleet, as pure functions: an agent's row (health against the coverage
timeout, sensor mode, blind spots, counters, drops by reason), the account's drops summed by
reason, and a coverage resource's row with the tasks, services, task definitions and container
instances its GuardDuty issue strings name (what needs a relaunch or a new deployment).

Heartbeats are untrusted: numbers count only when they are non-negative integers, strings are
passed through as data (the templates escape them). Pure: no I/O, no HTML, no queries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rtguard.console.present import as_count, as_text, get_path, short
from rtguard.console.render import age, epoch_text
from rtguard.store.coverage import AgentRecord

__all__ = ["AgentRow", "CoverageRow", "agent_row", "coverage_row", "drops_by_reason", "issue_targets"]


# -- agents -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRow:
    """An agent on the agents page and the overview."""

    agent_id: str
    version: str
    sensor: str
    health: str  # "reporting" | "not reporting" | "disabled"
    resource: list[tuple[str, str]]
    last_seen: str
    last_seen_age: str
    first_seen: str
    counters: list[tuple[str, str]]
    dropped: list[tuple[str, int]]
    dropped_total: int
    blind_spots: list[str]
    disabled_reason: str


_RESOURCE_KEYS: Final = (
    ("mode", "Mode"),
    ("cluster_arn", "Cluster"),
    ("task_arn", "Task"),
    ("family", "Task family"),
    ("revision", "Revision"),
    ("container_instance_arn", "Container instance"),
)
_COUNTER_KEYS: Final = (
    ("events_emitted", "Events emitted"),
    ("events_sent", "Events sent"),
    ("processes_tracked", "Processes tracked"),
    ("coalesced", "Write-opens coalesced (not lost)"),
    ("ring_retried", "Ring refusals retried (not lost)"),
    ("ring_wakeups", "Ring wakeups forced"),
)


def _dropped(beat: Mapping[str, Any]) -> list[tuple[str, int]]:
    raw = beat.get("dropped")
    if not isinstance(raw, Mapping):
        return []
    out = [(short(reason), n) for reason, value in raw.items() if (n := as_count(value)) is not None]
    return sorted(out)


def agent_row(agent: AgentRecord, *, now: float, timeout: float) -> AgentRow:
    """An agent's row; "reporting" means a heartbeat within ``timeout`` seconds (coverage's rule)."""
    beat = agent.beat
    resource = beat.get("resource") if isinstance(beat.get("resource"), Mapping) else {}
    assert isinstance(resource, Mapping)
    where = [("Hostname", short(beat.get("hostname"))), ("Instance", short(beat.get("instance_id")))]
    where += [(label, short(resource.get(key))) for key, label in _RESOURCE_KEYS]
    counters = [
        (label, as_text(n)) for key, label in _COUNTER_KEYS if (n := as_count(beat.get(key))) is not None
    ]
    dropped = _dropped(beat)
    spots = beat.get("blind_spots")
    if not agent.enabled:
        health = "disabled"
    elif now - agent.last_seen <= timeout:
        health = "reporting"
    else:
        health = "not reporting"
    return AgentRow(
        agent_id=agent.agent_id,
        version=short(beat.get("agent_version")),
        sensor=short(beat.get("sensor")) or "unknown",
        health=health,
        resource=[(k, v) for k, v in where if v],
        last_seen=epoch_text(agent.last_seen),
        last_seen_age=age(now - agent.last_seen),
        first_seen=epoch_text(agent.first_seen),
        counters=counters,
        dropped=dropped,
        dropped_total=sum(n for _, n in dropped),
        blind_spots=[short(s) for s in spots] if isinstance(spots, list) else [],
        disabled_reason=short(beat.get("disabled_reason")),
    )


def drops_by_reason(rows: Sequence[AgentRow]) -> list[tuple[str, int, int]]:
    """``(reason, events dropped, agents that dropped for it)`` over all agents, largest first."""
    totals: dict[str, int] = {}
    agents: dict[str, int] = {}
    for row in rows:
        for reason, n in row.dropped:
            totals[reason] = totals.get(reason, 0) + n
            if n:
                agents[reason] = agents.get(reason, 0) + 1
    return sorted(((r, n, agents.get(r, 0)) for r, n in totals.items()), key=lambda t: (-t[1], t[0]))


# -- coverage -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageRow:
    """A covered resource on the coverage page."""

    resource_id: str
    resource_type: str
    status: str
    management: str
    details: list[tuple[str, str]]
    issues: list[str]
    relaunch_tasks: list[str] = field(default_factory=list)
    redeploy_services: list[str] = field(default_factory=list)
    task_definitions: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)
    updated: str = "-"


_TARGETS: Final[Mapping[str, tuple[re.Pattern[str], ...]]] = {
    "tasks": (re.compile(r"Impacted task ID\(s\): '([^']*)'"),),
    "services": (
        re.compile(r"Impacted service name\(s\): '([^']*)'"),
        re.compile(r"Service '([^']*)' requires a new deployment"),
    ),
    "task_definitions": (re.compile(r"TaskDefinition -? ?'([^']*)'"),),
    "instances": (re.compile(r"container instance\(s\): '([^']*)'"),),
}


def issue_targets(issues: Sequence[str]) -> dict[str, list[str]]:
    """The tasks, services, task definitions and container instances GuardDuty's issue strings
    name (``Impacted task ID(s): 'a, b'`` …): what needs a relaunch or a new deployment."""
    found: dict[str, list[str]] = {name: [] for name in _TARGETS}
    for issue in issues:
        for name, patterns in _TARGETS.items():
            for pattern in patterns:
                for match in pattern.finditer(issue):
                    found[name].extend(p.strip() for p in match.group(1).split(",") if p.strip())
    return {name: list(dict.fromkeys(values)) for name, values in found.items()}


def coverage_row(doc: Mapping[str, Any]) -> CoverageRow:
    """A coverage resource (ListCoverage's shape) as a row."""
    details = doc.get("resourceDetails")
    rtype = as_text(get_path(details, "resourceType"))
    ecs = get_path(details, "ecsClusterDetails")
    ec2 = get_path(details, "ec2InstanceDetails")
    issues: list[str] = []
    shown: list[tuple[str, str]] = []
    management = ""
    if isinstance(ecs, Mapping):
        raw = get_path(ecs, "fargateDetails", "issues")
        issues = [as_text(i) for i in raw] if isinstance(raw, list) else []
        management = as_text(get_path(ecs, "fargateDetails", "managementType"))
        covered = get_path(ecs, "containerInstanceDetails", "coveredContainerInstances")
        compatible = get_path(ecs, "containerInstanceDetails", "compatibleContainerInstances")
        shown.append(("Cluster", as_text(ecs.get("clusterName"))))
        shown.append(
            (
                "Container instances",
                f"{as_text(covered)} of {as_text(compatible)} covered" if compatible is not None else "-",
            )
        )
    if isinstance(ec2, Mapping):
        management = as_text(ec2.get("managementType"))
        shown += [
            ("Instance", as_text(ec2.get("instanceId"))),
            ("Instance type", as_text(ec2.get("instanceType"))),
            ("Agent version", as_text(get_path(ec2, "agentDetails", "version"))),
            ("ECS cluster", as_text(ec2.get("clusterArn"))),
        ]
    issue = as_text(doc.get("issue"))
    if issue and issue not in issues:
        issues.insert(0, issue)
    targets = issue_targets(issues)
    return CoverageRow(
        resource_id=as_text(doc.get("resourceId")),
        resource_type=rtype,
        status=as_text(doc.get("coverageStatus")),
        management=management,
        details=[(k, v) for k, v in shown if v],
        issues=issues,
        relaunch_tasks=targets["tasks"],
        redeploy_services=targets["services"],
        task_definitions=targets["task_definitions"],
        instances=targets["instances"],
        updated=epoch_text(doc.get("updatedAt")),
    )
