"""Rule scenarios: YAML files of events with the finding types they must (and must not) produce.

``rtguard rules test`` runs them against the shipped rules plus the user's, so that a rule
author can pin a rule's behaviour the way the shipped rules are pinned. A scenario lists events
in the agent's wire format (``rtguard.model.codec``) with friendly defaults (time, host, exec
ids filled in) and ``expect``: the exact set of finding types the events produce together
(empty for a benign scenario). Each scenario gets fresh detector state. This module reads files
and runs the engine; it must not do any other I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from rtguard.detect.engine import Engine
from rtguard.model.codec import CodecError, decode_event

SHIPPED_SCENARIOS: Final = Path(__file__).resolve().parent.parent / "rules" / "scenarios"
_BASE_TIME: Final = 1_700_000_000_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioResult:
    """One scenario's outcome; ``error`` is set when the file could not be run."""

    path: str
    name: str
    expected: frozenset[str] = frozenset()
    produced: frozenset[str] = frozenset()
    error: str = ""

    @property
    def ok(self) -> bool:
        """Produced exactly what was expected, without errors."""
        return not self.error and self.expected == self.produced


def _event_dict(raw: Mapping[str, Any], name: str, n: int) -> dict[str, Any]:
    ev = dict(raw)
    ev.setdefault("time", _BASE_TIME + n * 1_000_000)
    ev.setdefault("host", {"hostname": "scenario"})
    proc = dict(ev.get("process") or {})
    proc.setdefault("pid", 1000 + n)
    proc.setdefault("exec_id", f"{name}-{proc['pid']}")
    if "argv" in proc and "name" not in proc and proc["argv"]:
        proc["name"] = str(proc["argv"][0]).rsplit("/", 1)[-1]
    ev["process"] = proc
    return ev


def run_scenario_file(path: Path, engine: Engine) -> list[ScenarioResult]:
    """Run every scenario in ``path``; errors become results, never exceptions."""
    try:
        items = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        return [ScenarioResult(path=str(path), name="(file)", error=f"cannot read: {exc}")]
    if not isinstance(items, list):
        return [ScenarioResult(path=str(path), name="(file)", error="expected a list of scenarios")]
    results: list[ScenarioResult] = []
    for index, item in enumerate(items):
        name = str(item.get("scenario", f"#{index + 1}")) if isinstance(item, dict) else f"#{index + 1}"
        if not isinstance(item, dict) or not isinstance(item.get("events"), list):
            results.append(
                ScenarioResult(path=str(path), name=name, error="needs 'scenario', 'events' and 'expect'")
            )
            continue
        expect = item.get("expect") or []
        if not isinstance(expect, list) or not all(isinstance(t, str) for t in expect):
            results.append(
                ScenarioResult(path=str(path), name=name, error="'expect' must be a list of finding types")
            )
            continue
        state = engine.new_state()
        produced: set[str] = set()
        try:
            for n, raw in enumerate(item["events"]):
                if not isinstance(raw, dict):
                    raise CodecError(f"events[{n}]: expected a mapping")
                event = decode_event(_event_dict(raw, name, n), where=f"events[{n}]")
                produced.update(d.finding_type for d in engine.evaluate(event, state))
        except CodecError as exc:
            results.append(ScenarioResult(path=str(path), name=name, error=str(exc)))
            continue
        results.append(
            ScenarioResult(
                path=str(path), name=name, expected=frozenset(expect), produced=frozenset(produced)
            )
        )
    return results


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    """The scenario files named (directories expand to their ``*.yaml``), in name order."""
    out: list[Path] = []
    for p in paths:
        out.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    return out


def format_results(results: list[ScenarioResult]) -> str:
    """One line per scenario: ``PASS``/``FAIL``/``ERROR`` with what differs."""
    lines = []
    for r in results:
        if r.error:
            lines.append(f"ERROR {r.path}: {r.name}: {r.error}")
        elif r.ok:
            lines.append(f"PASS  {r.path}: {r.name}")
        else:
            missing = ", ".join(sorted(r.expected - r.produced)) or "-"
            extra = ", ".join(sorted(r.produced - r.expected)) or "-"
            lines.append(f"FAIL  {r.path}: {r.name}: missing {missing}; unexpected {extra}")
    return "\n".join(lines)
