"""Every behavioural type of reference §1b is produced by a shipped rule or a built-in detector,
with MITRE tags matching the type's tactic."""

from __future__ import annotations

import importlib

from rtguard.detect.detectors import BUILTIN
from rtguard.model.findings import FINDING_TYPES_BY_NAME
from rtguard.testing.behaviour import ALLOWED_CONTEXT, ENGINE

# Types no rule or detector produces (none since the NewLibraryLoaded detector).
NOT_PRODUCED: set[str] = set()


def _detector_types() -> set[str]:
    out = set()
    for detector in BUILTIN:
        module = importlib.import_module(type(detector).__module__)
        ftype = getattr(module, "FINDING_TYPE", None)
        if isinstance(ftype, str):
            out.add(ftype)
    return out


def test_every_behavioural_type_has_a_producer() -> None:
    produced = {r.finding_type for r in ENGINE.rules} | _detector_types()
    missing = set(ALLOWED_CONTEXT) - produced
    assert missing == set(), missing
    assert NOT_PRODUCED.isdisjoint(produced)
    assert all(t in FINDING_TYPES_BY_NAME for t in ALLOWED_CONTEXT)


def test_rule_tags_name_the_types_mitre_technique_family() -> None:
    for rule in ENGINE.rules:
        if rule.finding_type not in ALLOWED_CONTEXT:
            continue
        techniques = [t for t in rule.tags if t.startswith("T")]
        assert techniques, rule.name
        assert any(t.startswith("mitre_") for t in rule.tags), rule.name
