"""Display shapes of findings, as pure functions of stored finding documents: a finding's list
row and its detail sections (resource, process, lineage, context, action and evidence,
occurrences, the reporting agent), plus the small tolerant accessors the console's other
display module (``fleet``) shares.

Every string is passed through as data (the templates escape it); a field of the wrong type
shows as text or as absent, never as an error. Pure: no I/O, no HTML, no queries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "FindingDetail",
    "FindingRow",
    "as_count",
    "as_text",
    "finding_detail",
    "finding_row",
    "get_path",
    "resource_label",
    "short",
]

_MAX_SHOWN: Final = 200  # characters of one value in a table cell (the detail shows it all)


def get_path(doc: Any, *path: str) -> Any:
    """The value at ``path`` in nested mappings; None when any step is missing or not a mapping."""
    for part in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(part)
    return doc


def as_text(value: Any) -> str:
    """Any JSON value as display text (None as empty, booleans as true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def short(value: Any) -> str:
    """Display text cut to a table cell's length."""
    text = as_text(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def as_count(value: Any) -> int | None:
    """A non-negative integer counter, else None (heartbeats are untrusted)."""
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
    ecs = get_path(resource, "ecsClusterDetails")
    if isinstance(ecs, Mapping):
        task = as_text(get_path(ecs, "taskDetails", "arn")).rsplit("/", 1)[-1]
        container = as_text(get_path(resource, "containerDetails", "name"))
        parts = [as_text(ecs.get("name")), task[:12], container]
        return " / ".join(p for p in parts if p)
    instance = get_path(resource, "instanceDetails", "instanceId")
    if instance is not None:
        return as_text(instance)
    container = get_path(resource, "containerDetails", "name") or get_path(resource, "containerDetails", "id")
    return as_text(container) or as_text(get_path(resource, "resourceType"))


def finding_row(doc: Mapping[str, Any]) -> FindingRow:
    """The list row of a finding document."""
    service = doc.get("service")
    proc = get_path(service, "runtimeDetails", "process")
    return FindingRow(
        id=as_text(doc.get("id")),
        type=short(doc.get("type")),
        title=short(doc.get("title")),
        severity=doc.get("severity"),
        resource=short(resource_label(doc)),
        process=short(get_path(proc, "executablePath") or get_path(proc, "name")),
        count=as_text(get_path(service, "count")),
        first_seen=as_text(get_path(service, "eventFirstSeen")),
        last_seen=as_text(get_path(service, "eventLastSeen") or doc.get("updatedAt")),
        archived=get_path(service, "archived") is True,
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
                out.append((label, "\n".join(as_text(v) for v in value)))
            else:
                for i, item in enumerate(value):
                    out.extend(
                        _pairs(item, f"{label}[{i}].")
                        if isinstance(item, Mapping)
                        else [(f"{label}[{i}]", as_text(item))]
                    )
        elif value is not None:
            out.append((label, as_text(value)))
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
    raw = get_path(service, "additionalInfo", "value")
    if not isinstance(raw, str) or len(raw) > _MAX_INFO:
        return "", ""
    try:
        info = json.loads(raw)
    except (ValueError, RecursionError):
        return "", ""
    details = get_path(info, "agentDetails")
    if not isinstance(details, Mapping):
        return "", ""
    return as_text(details.get("agentId")), as_text(details.get("agentVersion"))


def finding_detail(doc: Mapping[str, Any]) -> FindingDetail:
    """The detail sections of a finding document."""
    service = doc.get("service")
    proc = get_path(service, "runtimeDetails", "process")
    process = [
        (label, as_text(get_path(proc, key)))
        for key, label in _PROCESS_FIELDS
        if get_path(proc, key) is not None
    ]
    raw_lineage = get_path(proc, "lineage")
    lineage = [
        {k: as_text(item.get(k)) for k in _LINEAGE_FIELDS}
        for item in (raw_lineage if isinstance(raw_lineage, list) else [])
        if isinstance(item, Mapping)
    ]
    aggregation = [
        ("Count", as_text(get_path(service, "count"))),
        ("First seen", as_text(get_path(service, "eventFirstSeen"))),
        ("Last seen", as_text(get_path(service, "eventLastSeen"))),
        ("Created", as_text(doc.get("createdAt"))),
        ("Updated", as_text(doc.get("updatedAt"))),
        ("Archived", "yes" if get_path(service, "archived") is True else "no"),
    ]
    feedback = get_path(service, "userFeedback")
    if feedback is not None:
        aggregation.append(("Feedback", as_text(feedback)))
    agent_id, agent_version = _agent_details(service)
    return FindingDetail(
        agent_id=agent_id,
        agent_version=agent_version,
        row=finding_row(doc),
        description=as_text(doc.get("description")),
        resource=_pairs(doc.get("resource")),
        process=process,
        lineage=lineage,
        context=_pairs(get_path(service, "runtimeDetails", "context")),
        action=_pairs(get_path(service, "action")) + _pairs(get_path(service, "evidence"), "evidence."),
        aggregation=aggregation,
    )
