"""``CompiledRule``: one loaded rule, ready to run, and how it turns a match into a Detection.

A compiled rule holds its matcher closure, the event kinds it can match (the engine's index
key), its GuardDuty finding type and severity override, and compiled artifact, context and
output templates. Immutable and safe to share between threads. This module must not parse
or compile conditions and must not do I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rtguard.detect.extractors import Extractor
from rtguard.detect.result import SourceLocation
from rtguard.detect.templates import Template, value_text
from rtguard.model.events import Event, EventKind
from rtguard.model.findings import Detection


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledRule:
    """A rule after loading: identity, finding type, matcher and templates.

    ``matches(event)`` may raise if an extractor fails on a malformed event; the engine counts
    that as an error and treats the rule as not matching. ``kinds`` are the event kinds the
    condition can match and ``names``, when not ``None``, the only process names it can match
    (both are index keys). ``enabled`` false rules are loaded (and validated) but not run.
    """

    rule_id: str
    name: str
    desc: str
    finding_type: str
    severity: float | None
    priority: str
    tags: tuple[str, ...]
    enabled: bool
    kinds: frozenset[EventKind]
    condition: str
    location: SourceLocation
    matches: Callable[[Event], bool]
    names: frozenset[str] | None = None
    artifact_fields: tuple[Extractor, ...] = ()
    context: tuple[tuple[str, Template], ...] = ()
    output: Template | None = None

    def detect(self, event: Event) -> Detection:
        """The detection for an event this rule matched."""
        context: dict[str, str | list[str]] = {}
        for key, template in self.context:
            value = template.context_value(event)
            if value is not None:
                context[key] = value
        return Detection(
            finding_type=self.finding_type,
            event=event,
            rule_id=self.rule_id,
            artifact=self.artifact(event),
            severity=self.severity,
            context=context,
            description=self.output.render(event) if self.output is not None else self.desc,
        )

    def artifact(self, event: Event) -> str:
        """The first non-empty value among the artifact fields ("" when none has one)."""
        for extract in self.artifact_fields:
            text = value_text(extract(event))
            if text:
                return text
        return ""
