"""The detection engine: runs compiled rules, then stateful detectors, on one event at a time.

Rules are indexed by event kind once (``_by_kind``), then by process name for rules that
require one (``_by_name``, looked up under each of the event's ``proc.names``), so an event
only meets the rules that can match it; each rule is one precompiled closure. ``evaluate`` never raises: a rule
or detector that fails on an event is counted in ``errors`` (by rule id) and treated as not
matching. Rule evaluation is pure; detector state lives in an ``EngineState`` the caller may
pass per partition. This module must not read rule files (``loader`` does), build findings
(``rtguard.findings`` does) or do I/O other than logging a failing rule once.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from rtguard.detect.detector import Detector, EngineState
from rtguard.detect.detectors import BUILTIN
from rtguard.detect.extractors import proc_names
from rtguard.detect.loader import load_rules
from rtguard.detect.result import LoadResult
from rtguard.detect.rule import CompiledRule
from rtguard.model.events import Event, EventKind
from rtguard.model.findings import Detection

_log = logging.getLogger(__name__)


class Engine:
    """Evaluates events against rules and detectors.

    Not thread-safe for one instance (the error counters and the default detector state are
    shared); use one engine per worker thread, or pass each partition its own ``EngineState``
    and accept approximate counters.
    """

    def __init__(self, rules: Iterable[CompiledRule], detectors: Iterable[Detector[Any]] = ()) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(r for r in rules if r.enabled)
        self.detectors: tuple[Detector[Any], ...] = tuple(detectors)
        self._by_kind: Mapping[EventKind, tuple[CompiledRule, ...]] = {
            kind: tuple(r for r in self.rules if kind in r.kinds) for kind in EventKind
        }
        self._by_name: Mapping[EventKind, _NameIndex | None] = {
            kind: _NameIndex.of(rules_of_kind) for kind, rules_of_kind in self._by_kind.items()
        }
        self._detectors_by_kind: Mapping[EventKind, tuple[Detector[Any], ...]] = {
            kind: tuple(d for d in self.detectors if kind in d.kinds) for kind in EventKind
        }
        self._state = EngineState()
        self.errors: Counter[str] = Counter()

    def rules_for(self, kind: EventKind) -> tuple[CompiledRule, ...]:
        """The enabled rules that can match events of ``kind``."""
        return self._by_kind.get(kind, ())

    def new_state(self) -> EngineState:
        """An empty detector state for one partition (task or host)."""
        return EngineState()

    def evaluate(self, event: Event, state: EngineState | None = None) -> list[Detection]:
        """Every detection for ``event``: matching rules in load order, then detectors.

        Args:
            event: an enriched event; it is not modified.
            state: the detector state of the event's partition; the engine's own when omitted.

        Returns:
            The detections, possibly empty. Never raises.
        """
        out: list[Detection] = []
        kind = event.kind
        index = self._by_name.get(kind)
        rules = self._by_kind.get(kind, ()) if index is None else index.rules_for(event)
        for rule in rules:
            try:
                if rule.matches(event):
                    out.append(rule.detect(event))
            except Exception:
                self._failed(rule.rule_id, kind)
        detectors = self._detectors_by_kind.get(kind)
        if detectors:
            st = self._state if state is None else state
            for detector in detectors:
                try:
                    out.extend(detector.on_event(event, st.of(detector)))
                except Exception:
                    self._failed(detector.rule_id, kind)
        return out

    def _failed(self, rule_id: str, kind: EventKind) -> None:
        self.errors[rule_id] += 1
        if self.errors[rule_id] == 1:
            _log.warning(
                "rule failed on an event", extra={"rule_id": rule_id, "kind": kind.value}, exc_info=True
            )


class _NameIndex:
    """Second index level: process names → the rules that can match them, in load order.

    Rules whose condition requires ``proc.name`` or ``proc.names`` to be one of a set only run
    for events with one of those names; the others (``ungated``) run for every event. An event
    is looked up under each of its ``proc.names``. Same results as running every rule.
    """

    __slots__ = ("_by_name", "_rules", "_slots", "_ungated", "_ungated_slots")

    def __init__(self, rules: tuple[CompiledRule, ...]) -> None:
        self._rules = rules
        self._ungated = tuple(r for r in rules if r.names is None)
        self._ungated_slots = frozenset(i for i, r in enumerate(rules) if r.names is None)
        names = set().union(*(r.names for r in rules if r.names is not None))
        self._by_name = {n: tuple(r for r in rules if r.names is None or n in r.names) for n in names}
        self._slots = {
            n: frozenset(i for i, r in enumerate(rules) if r.names is not None and n in r.names)
            for n in names
        }

    @classmethod
    def of(cls, rules: tuple[CompiledRule, ...]) -> _NameIndex | None:
        """The index, or ``None`` when no rule of the kind is gated by name."""
        return cls(rules) if any(r.names is not None for r in rules) else None

    def rules_for(self, event: Event) -> tuple[CompiledRule, ...]:
        names = proc_names(event)
        if len(names) == 1:
            return self._by_name.get(names[0], self._ungated)
        slots = self._ungated_slots.union(*(self._slots.get(n, ()) for n in names))
        return tuple(r for i, r in enumerate(self._rules) if i in slots)


def build_engine(
    paths: Iterable[str | os.PathLike[str]] = (),
    *,
    shipped: bool = True,
    detectors: Iterable[Detector[Any]] = BUILTIN,
) -> tuple[Engine, LoadResult[CompiledRule]]:
    """Load the shipped rules plus ``paths`` and build an engine from what loaded.

    The engine runs every rule that loaded without error; the caller decides whether errors in
    ``result`` stop start-up (they should for operator-supplied rule paths).
    """
    result = load_rules(paths, shipped=shipped)
    return Engine(result.items, detectors), result
