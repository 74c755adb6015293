"""Output and context templates: text with ``%field`` references, compiled once.

A rule's ``output`` (Falco syntax: ``"Miner started (cmdline=%proc.cmdline)"``; a transformer
may wrap a field: ``%basename(evt.arg.filename)``) becomes the detection's description; each
``context`` value (``"%proc.name"`` or a literal such as ``"Network Scanner"``) becomes a
GuardDuty ``RuntimeContext`` value. ``compile_template``
resolves every reference against the field catalogue and reports unknown fields with their
position. This module must not evaluate conditions and must not do I/O; rendered text is
attacker-controlled and is escaped by whoever displays it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from rtguard.detect.condition.ast import FieldRef, Origin, Pos
from rtguard.detect.extractors import FieldValue
from rtguard.detect.fields import FieldError, FieldType, ResolvedField, resolve_field
from rtguard.detect.operators import TRANSFORMERS
from rtguard.model.events import Event

_FIELD: Final = r"([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z][a-zA-Z0-9_]*)+)(?:\[([^\]\s]+)\])?"
_REF_RE: Final = re.compile(rf"%(?:{_FIELD}|([a-z0-9]+)\({_FIELD}\))")
MISSING: Final = "<NA>"


def value_text(value: FieldValue) -> str | None:
    """The text of one extracted value (``None`` stays missing); lists are comma-joined."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Template:
    """Literal text and resolved fields, in order; ``single`` when it is one field alone."""

    parts: tuple[str | ResolvedField, ...]

    @property
    def single(self) -> ResolvedField | None:
        if len(self.parts) == 1 and isinstance(self.parts[0], ResolvedField):
            return self.parts[0]
        return None

    def stripped(self) -> Template:
        """The same template without leading and trailing blanks (YAML folding adds them)."""
        parts = list(self.parts)
        if parts and isinstance(parts[0], str):
            parts[0] = parts[0].lstrip()
        if parts and isinstance(parts[-1], str):
            parts[-1] = parts[-1].rstrip()
        return Template(tuple(p for p in parts if p != ""))

    def render(self, event: Event, missing: str = MISSING) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                text = value_text(part.extract(event))
                out.append(missing if text is None else text)
        return "".join(out)

    def context_value(self, event: Event) -> str | list[str] | None:
        """The value for a ``RuntimeContext`` key, or ``None`` to leave the key out."""
        single = self.single
        if single is not None:
            value = single.extract(event)
            if isinstance(value, tuple):
                return [str(v) for v in value] or None
            return value_text(value) or None
        text = self.render(event, missing="")
        return text if text.strip() else None


def _transformed(field: ResolvedField, apply: Callable[[str], str | int | None]) -> ResolvedField:
    inner = field.extract

    def extract(e: Event) -> FieldValue:
        value = inner(e)
        return None if value is None else apply(str(value))

    return ResolvedField(field.spec, field.arg, extract, False)


def compile_template(text: str, origin: Origin | None = None) -> Template | list[tuple[str, Pos]]:
    """The template, or the problems found (message and position of each bad reference)."""
    where = origin or Origin.of_text(text)
    parts: list[str | ResolvedField] = []
    problems: list[tuple[str, Pos]] = []
    last = 0
    for m in _REF_RE.finditer(text):
        if m.start() > last:
            parts.append(text[last : m.start()])
        last = m.end()
        name, arg, transform = (
            (m.group(1), m.group(2), None) if m.group(1) else (m.group(4), m.group(5), m.group(3))
        )
        resolved = resolve_field(FieldRef(name, arg))
        if isinstance(resolved, FieldError):
            problems.append((resolved.message, where.at(m.start())))
            continue
        if transform is None:
            parts.append(resolved)
            continue
        tr = TRANSFORMERS.get(transform)
        if tr is None or resolved.type is not FieldType.STRING or resolved.multi:
            problems.append((f"cannot apply '{transform}()' to {resolved.label} here", where.at(m.start())))
            continue
        parts.append(_transformed(resolved, tr.apply))
    if last < len(text):
        parts.append(text[last:])
    return problems if problems else Template(tuple(parts))
