"""The shipped rules as a whole: they load cleanly, follow the naming rules, and are package data."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import rtguard.detect
from rtguard.detect import SHIPPED_RULE_FILES, load_rules
from rtguard.model.events import EventKind
from rtguard.model.findings import FINDING_TYPES_BY_NAME, RUNTIME_CONTEXT_KEYS
from rtguard.testing.behaviour import ALLOWED_CONTEXT

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "src" / "rtguard" / "rules"
RESULT = load_rules()
TOOL_CATEGORIES = {"Backdoor Tool", "Pentest Tool", "Network Scanner", "Network Sniffer"}


def test_shipped_rules_load_without_errors_or_warnings() -> None:
    assert RESULT.errors == [] and RESULT.warnings == []
    assert len(RESULT.items) >= 3


def test_every_yaml_file_of_the_package_is_listed_and_nothing_else() -> None:
    assert sorted(p.name for p in RULES_DIR.glob("*.yaml")) == sorted(SHIPPED_RULE_FILES)
    top = ROOT / "rules"
    assert not top.exists() or not list(top.glob("*.yaml")), "shipped rules live in src/rtguard/rules only"


def test_rules_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert "rules/*.yaml" in config["tool"]["setuptools"]["package-data"]["rtguard"]


def test_ids_names_and_descriptions_follow_the_house_style() -> None:
    ids = [r.rule_id for r in RESULT.items]
    assert len(ids) == len(set(ids))
    for r in RESULT.items:
        assert re.fullmatch(r"RTG-\d{4}", r.rule_id), r.rule_id
        assert all(w[:1].isupper() for w in re.split(r"[ -]", r.name) if w[:1].isalpha()), r.name
        assert r.desc.startswith("Detect"), r.name
        assert r.finding_type in FINDING_TYPES_BY_NAME, r.finding_type
        assert r.kinds and r.kinds != frozenset(EventKind), f"{r.name} must restrict evt.type"
        assert r.severity is None or 1 <= r.severity <= 10
        assert r.output is not None and r.enabled


def test_each_finding_type_has_its_context_keys() -> None:
    expected = {
        "Impact:Runtime/CryptoMinerExecuted": set(),
        "Execution:Runtime/SuspiciousTool": {"toolName", "toolCategory"},
        "Discovery:Runtime/SuspiciousCommand": {"commandLineExample"},
    }
    for r in RESULT.items:
        keys = {k for k, _ in r.context}
        if r.finding_type in expected:
            assert keys == expected[r.finding_type], r.name
        else:  # behavioural types: only keys of the type, per reference §1b
            assert keys <= ALLOWED_CONTEXT[r.finding_type], r.name
        assert keys <= RUNTIME_CONTEXT_KEYS
        for key, template in r.context:
            if key == "toolCategory":
                assert template.parts[0] in TOOL_CATEGORIES


def test_public_api_is_pinned() -> None:
    assert sorted(rtguard.detect.__all__) == sorted(
        [
            "FIELDS",
            "SHIPPED_RULE_FILES",
            "CompiledRule",
            "Detector",
            "Engine",
            "EngineState",
            "LoadCode",
            "LoadError",
            "LoadResult",
            "LoadWarning",
            "SourceLocation",
            "build_engine",
            "format_load_result",
            "format_message",
            "format_messages",
            "load_rule_texts",
            "load_rules",
            "render_fields_markdown",
            "validate_rule_files",
        ]
    )
    for name in rtguard.detect.__all__:
        assert hasattr(rtguard.detect, name)
