"""What the console reads, through the store's own query functions (the ones the API uses):
the store protocol the console needs, the account's detector, finding filters turned into the
store's ``Condition`` values, one page of findings (``query_findings`` + ``get_findings``),
statistics (``finding_statistics``), agents (``list_agents``) and coverage (``load_coverage``
with ``coverage.query``).

Must not evaluate conditions, page, count or compute coverage itself (``store.query``,
``store.stats`` and ``rtguard.coverage`` do), and must not know HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from rtguard.console.auth import ConsoleError
from rtguard.store.base import DEFAULT_SORT, Store
from rtguard.store.coverage import AgentRecord
from rtguard.store.query import Condition, InvalidPageTokenError, Op

__all__ = [
    "PAGE_SIZE",
    "RESOURCE_FIELDS",
    "SEVERITY_FILTERS",
    "STATUS_FILTERS",
    "ConsoleStore",
    "FindingFilters",
    "FindingsPage",
    "detector_of",
    "finding_conditions",
    "findings_page",
    "one_finding",
    "parse_finding_filters",
]

PAGE_SIZE: Final = 25
_MAX_TEXT: Final = 256

# Severity filter → the store conditions of GuardDuty's bands.
SEVERITY_FILTERS: Final[Mapping[str, tuple[Condition, ...]]] = {
    "CRITICAL": (Condition(field="severity", op=Op.GTE, bound=9),),
    "HIGH": (Condition(field="severity", op=Op.GTE, bound=7), Condition(field="severity", op=Op.LT, bound=9)),
    "MEDIUM": (
        Condition(field="severity", op=Op.GTE, bound=4),
        Condition(field="severity", op=Op.LT, bound=7),
    ),
    "LOW": (Condition(field="severity", op=Op.LT, bound=4),),
}
STATUS_FILTERS: Final[Mapping[str, tuple[Condition, ...]]] = {
    "active": (Condition(field="service.archived", op=Op.EQ, values=("false",)),),
    "archived": (Condition(field="service.archived", op=Op.EQ, values=("true",)),),
    "all": (),
}
# Resource filter field → (label, finding document path).
RESOURCE_FIELDS: Final[Mapping[str, tuple[str, str]]] = {
    "cluster": ("ECS cluster", "resource.ecsClusterDetails.name"),
    "task": ("ECS task ARN", "resource.ecsClusterDetails.taskDetails.arn"),
    "container": ("Container name", "resource.containerDetails.name"),
    "image": ("Container image", "resource.containerDetails.image"),
    "instance": ("EC2 instance id", "resource.instanceDetails.instanceId"),
    "type": ("Resource type", "resource.resourceType"),
}


class ConsoleStore(Store, Protocol):
    """The store as the console reads it: the API's store plus agents and coverage."""

    def list_agents(self, account_id: str) -> list[AgentRecord]: ...

    def load_coverage(self, detector_id: str) -> list[dict[str, Any]]: ...


def detector_of(store: Store, account_id: str) -> str | None:
    """The account's (first) detector; None when it has none."""
    found = store.list_detectors(account_id)
    return found[0] if found else None


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingFilters:
    """The findings list's filters, as the user chose them."""

    type: str = ""
    severity: str = ""
    status: str = "active"
    resource_field: str = "cluster"
    resource: str = ""
    token: str = ""

    def params(self, **override: str) -> dict[str, str]:
        """The query parameters that reproduce these filters (for links), with overrides."""
        base = {
            "type": self.type,
            "severity": self.severity,
            "status": self.status,
            "rf": self.resource_field if self.resource else "",
            "resource": self.resource,
        }
        return {**base, **override}


def _text(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if len(value) > _MAX_TEXT:
        raise ConsoleError(400, "Bad request", f"the {name} filter is longer than {_MAX_TEXT} characters")
    return value


def _choice(params: Mapping[str, str], name: str, allowed: Sequence[str], default: str) -> str:
    value = params.get(name, "") or default
    if value not in allowed:
        raise ConsoleError(400, "Bad request", f"the {name} filter must be one of: {', '.join(allowed)}")
    return value


def parse_finding_filters(params: Mapping[str, str]) -> FindingFilters:
    """The findings list's query parameters, checked.

    Raises:
        ConsoleError: 400 naming the parameter that is wrong.
    """
    token = params.get("token", "")
    if len(token) > 2048:
        raise ConsoleError(400, "Bad request", "the page token is not valid")
    return FindingFilters(
        type=_text(params, "type"),
        severity=_choice(params, "severity", ("", *SEVERITY_FILTERS), ""),
        status=_choice(params, "status", tuple(STATUS_FILTERS), "active"),
        resource_field=_choice(params, "rf", tuple(RESOURCE_FIELDS), "cluster"),
        resource=_text(params, "resource"),
        token=token,
    )


def finding_conditions(filters: FindingFilters) -> list[Condition]:
    """The store conditions of the filters (a resource text without ``*``/``?`` matches as a
    substring, with them as GuardDuty's wildcard pattern)."""
    conditions = [*STATUS_FILTERS[filters.status], *SEVERITY_FILTERS.get(filters.severity, ())]
    if filters.type:
        conditions.append(Condition(field="type", op=Op.EQ, values=(filters.type,)))
    if filters.resource:
        pattern = filters.resource if any(c in filters.resource for c in "*?") else f"*{filters.resource}*"
        field = RESOURCE_FIELDS[filters.resource_field][1]
        conditions.append(Condition(field=field, op=Op.MATCHES, values=(pattern,)))
    return conditions


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingsPage:
    """One page of finding documents and the token of the next page (None on the last)."""

    findings: list[dict[str, Any]]
    next_token: str | None


def findings_page(
    store: Store, detector_id: str, conditions: Sequence[Condition], *, token: str = "", size: int = PAGE_SIZE
) -> FindingsPage:
    """The findings matching ``conditions``, newest first, one page.

    Raises:
        ConsoleError: 400 for a page token that is not valid for this query.
    """
    try:
        page = store.query_findings(detector_id, conditions, DEFAULT_SORT, size, token or None)
    except InvalidPageTokenError as exc:
        raise ConsoleError(400, "Bad request", f"{exc}; start again from the first page") from exc
    docs = store.get_findings(detector_id, page.ids) if page.ids else []
    return FindingsPage(findings=docs, next_token=page.next_token)


def one_finding(store: Store, detector_id: str, finding_id: str) -> dict[str, Any]:
    """One finding of the detector.

    Raises:
        ConsoleError: 404 when the detector has no such finding.
    """
    if not 1 <= len(finding_id) <= 300:
        raise ConsoleError(400, "Bad request", "a finding id has 1 to 300 characters")
    found = store.get_findings(detector_id, [finding_id])
    if not found:
        raise ConsoleError(404, "Not found", "this detector has no finding with that id")
    return found[0]
