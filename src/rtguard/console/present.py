"""Display shapes for the console's pages, as pure functions of stored documents: a finding's
list row and detail sections, an agent's row (health against the coverage timeout, counters,
drops by reason, blind spots), a coverage resource's row with the tasks, services and task
definitions its issue strings name, and the account's drops summed by reason.

Every string is passed through as data (the templates escape it); numbers from heartbeats are
accepted only when they are non-negative integers, anything else shows as absent. Pure: no I/O,
no HTML, no queries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rtguard.console.render import age, epoch_text
from rtguard.store.coverage import AgentRecord

__all__ = [
    "AgentRow",
    "CoverageRow",
    "FindingDetail",
    "FindingRow",
    "agent_row",
    "coverage_row",
    "drops_by_reason",
    "finding_detail",
    "finding_row",
    "issue_targets",
]

_MAX_SHOWN: Final = 200  # characters of one value in a table cell (the detail shows it all)


def _get(doc: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(part)
    return doc


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _short(value: Any) -> str:
    text = _str(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


# -- findings -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingRow:
    """A finding in a table."""

    id: str
    type: str
    title: str
    severity: Any
    resource: str
    process: str
    count: str
    first_seen: str
    last_seen: str
    archived: bool


def resource_label(doc: Mapping[str, Any]) -> str:
    """A short description of a finding's resource."""
    resource = doc.get("resource")
    ecs = _get(resource, "ecsClusterDetails")
    if isinstance(ecs, Mapping):
        task = _str(_get(ecs, "taskDetails", "arn")).rsplit("/", 1)[-1]
        container = _str(_get(resource, "containerDetails", "name"))
        parts = [_str(ecs.get("name")), task[:12], container]
        return " / ".join(p for p in parts if p)
    instance = _get(resource, "instanceDetails", "instanceId")
    if instance is not None:
        return _str(instance)
    container = _get(resource, "containerDetails", "name") or _get(resource, "containerDetails", "id")
    return _str(container) or _str(_get(resource, "resourceType"))


def finding_row(doc: Mapping[str, Any]) -> FindingRow:
    """The list row of a finding document."""
    service = doc.get("service")
    proc = _get(service, "runtimeDetails", "process")
    return FindingRow(
        id=_str(doc.get("id")),
        type=_short(doc.get("type")),
        title=_short(doc.get("title")),
        severity=doc.get("severity"),
        resource=_short(resource_label(doc)),
        process=_short(_get(proc, "executablePath") or _get(proc, "name")),
        count=_str(_get(service, "count")),
        first_seen=_str(_get(service, "eventFirstSeen")),
        last_seen=_str(_get(service, "eventLastSeen") or doc.get("updatedAt")),
        archived=_get(service, "archived") is True,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingDetail:
    """A finding's sections on its own page: each a list of (label, text) pairs."""

    row: FindingRow
    description: str
    resource: list[tuple[str, str]]
    process: list[tuple[str, str]]
    lineage: list[dict[str, str]]
    context: list[tuple[str, str]]
    action: list[tuple[str, str]]
    aggregation: list[tuple[str, str]]
    agent_id: str = ""
    agent_version: str = ""


def _pairs(mapping: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flattened (dotted label, text) pairs of a nested mapping; lists of scalars joined by newlines."""
    out: list[tuple[str, str]] = []
    if not isinstance(mapping, Mapping):
        return out
    for key, value in mapping.items():
        label = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_pairs(value, f"{label}."))
        elif isinstance(value, list):
            if all(not isinstance(v, Mapping | list) for v in value):
                out.append((label, "\n".join(_str(v) for v in value)))
            else:
                for i, item in enumerate(value):
                    out.extend(
                        _pairs(item, f"{label}[{i}].")
                        if isinstance(item, Mapping)
                        else [(f"{label}[{i}]", _str(item))]
                    )
        elif value is not None:
            out.append((label, _str(value)))
    return out


_PROCESS_FIELDS: Final = (
    ("name", "Name"),
    ("executablePath", "Executable"),
    ("executableSha256", "SHA-256"),
    ("pid", "PID"),
    ("namespacePid", "Namespace PID"),
    ("user", "User"),
    ("userId", "UID"),
    ("euid", "EUID"),
    ("pwd", "Working directory"),
    ("startTime", "Started"),
    ("uuid", "Process id"),
    ("parentUuid", "Parent id"),
)
_LINEAGE_FIELDS: Final = (
    "name",
    "executablePath",
    "pid",
    "namespacePid",
    "userId",
    "euid",
    "startTime",
    "uuid",
)


_MAX_INFO: Final = 64 * 1024


def _agent_details(service: Any) -> tuple[str, str]:
    """``(agent id, agent version)`` from ``service.additionalInfo.value`` (a JSON string)."""
    raw = _get(service, "additionalInfo", "value")
    if not isinstance(raw, str) or len(raw) > _MAX_INFO:
        return "", ""
    try:
        info = json.loads(raw)
    except (ValueError, RecursionError):
        return "", ""
    details = _get(info, "agentDetails")
    if not isinstance(details, Mapping):
        return "", ""
    return _str(details.get("agentId")), _str(details.get("agentVersion"))


def finding_detail(doc: Mapping[str, Any]) -> FindingDetail:
    """The detail sections of a finding document."""
    service = doc.get("service")
    proc = _get(service, "runtimeDetails", "process")
    process = [
        (label, _str(_get(proc, key))) for key, label in _PROCESS_FIELDS if _get(proc, key) is not None
    ]
    raw_lineage = _get(proc, "lineage")
    lineage = [
        {k: _str(item.get(k)) for k in _LINEAGE_FIELDS}
        for item in (raw_lineage if isinstance(raw_lineage, list) else [])
        if isinstance(item, Mapping)
    ]
    aggregation = [
        ("Count", _str(_get(service, "count"))),
        ("First seen", _str(_get(service, "eventFirstSeen"))),
        ("Last seen", _str(_get(service, "eventLastSeen"))),
        ("Created", _str(doc.get("createdAt"))),
        ("Updated", _str(doc.get("updatedAt"))),
        ("Archived", "yes" if _get(service, "archived") is True else "no"),
    ]
    feedback = _get(service, "userFeedback")
    if feedback is not None:
        aggregation.append(("Feedback", _str(feedback)))
    agent_id, agent_version = _agent_details(service)
    return FindingDetail(
        agent_id=agent_id,
        agent_version=agent_version,
        row=finding_row(doc),
        description=_str(doc.get("description")),
        resource=_pairs(doc.get("resource")),
        process=process,
        lineage=lineage,
        context=_pairs(_get(service, "runtimeDetails", "context")),
        action=_pairs(_get(service, "action")) + _pairs(_get(service, "evidence"), "evidence."),
        aggregation=aggregation,
    )


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
)


def _dropped(beat: Mapping[str, Any]) -> list[tuple[str, int]]:
    raw = beat.get("dropped")
    if not isinstance(raw, Mapping):
        return []
    out = [(_short(reason), n) for reason, value in raw.items() if (n := _count(value)) is not None]
    return sorted(out)


def agent_row(agent: AgentRecord, *, now: float, timeout: float) -> AgentRow:
    """An agent's row; "reporting" means a heartbeat within ``timeout`` seconds (coverage's rule)."""
    beat = agent.beat
    resource = beat.get("resource") if isinstance(beat.get("resource"), Mapping) else {}
    assert isinstance(resource, Mapping)
    where = [("Hostname", _short(beat.get("hostname"))), ("Instance", _short(beat.get("instance_id")))]
    where += [(label, _short(resource.get(key))) for key, label in _RESOURCE_KEYS]
    counters = [(label, _str(n)) for key, label in _COUNTER_KEYS if (n := _count(beat.get(key))) is not None]
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
        version=_short(beat.get("agent_version")),
        sensor=_short(beat.get("sensor")) or "unknown",
        health=health,
        resource=[(k, v) for k, v in where if v],
        last_seen=epoch_text(agent.last_seen),
        last_seen_age=age(now - agent.last_seen),
        first_seen=epoch_text(agent.first_seen),
        counters=counters,
        dropped=dropped,
        dropped_total=sum(n for _, n in dropped),
        blind_spots=[_short(s) for s in spots] if isinstance(spots, list) else [],
        disabled_reason=_short(beat.get("disabled_reason")),
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
    rtype = _str(_get(details, "resourceType"))
    ecs = _get(details, "ecsClusterDetails")
    ec2 = _get(details, "ec2InstanceDetails")
    issues: list[str] = []
    shown: list[tuple[str, str]] = []
    management = ""
    if isinstance(ecs, Mapping):
        raw = _get(ecs, "fargateDetails", "issues")
        issues = [_str(i) for i in raw] if isinstance(raw, list) else []
        management = _str(_get(ecs, "fargateDetails", "managementType"))
        covered = _get(ecs, "containerInstanceDetails", "coveredContainerInstances")
        compatible = _get(ecs, "containerInstanceDetails", "compatibleContainerInstances")
        shown.append(("Cluster", _str(ecs.get("clusterName"))))
        shown.append(
            (
                "Container instances",
                f"{_str(covered)} of {_str(compatible)} covered" if compatible is not None else "-",
            )
        )
    if isinstance(ec2, Mapping):
        management = _str(ec2.get("managementType"))
        shown += [
            ("Instance", _str(ec2.get("instanceId"))),
            ("Instance type", _str(ec2.get("instanceType"))),
            ("Agent version", _str(_get(ec2, "agentDetails", "version"))),
            ("ECS cluster", _str(ec2.get("clusterArn"))),
        ]
    issue = _str(doc.get("issue"))
    if issue and issue not in issues:
        issues.insert(0, issue)
    targets = issue_targets(issues)
    return CoverageRow(
        resource_id=_str(doc.get("resourceId")),
        resource_type=rtype,
        status=_str(doc.get("coverageStatus")),
        management=management,
        details=[(k, v) for k, v in shown if v],
        issues=issues,
        relaunch_tasks=targets["tasks"],
        redeploy_services=targets["services"],
        task_definitions=targets["task_definitions"],
        instances=targets["instances"],
        updated=epoch_text(doc.get("updatedAt")),
    )
