"""The rule loader: YAML rule files in, ``LoadResult[CompiledRule]`` out.

Stages (Falco's reader → collector → compiler): ``yamlsrc`` reads each file keeping
positions, ``collector`` applies definitions, ``append`` and ``override`` across files in
order, ``compiler`` turns conditions into closures; this module then checks our own keys
(``id``, ``finding_type``, ``severity``, ``artifact``, ``context``) and builds each
``CompiledRule``. Loading never stops at the first problem. The shipped rules are package
data (``rtguard/rules/*.yaml``, listed in ``SHIPPED_RULE_FILES``). This module reads the files
it is given and nothing else; it must not evaluate events.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Final

from rtguard.detect.collector import Collector, RuleDef
from rtguard.detect.compiler import ALL_KINDS, Compiled, Compiler
from rtguard.detect.condition.ast import FieldRef, Origin, Pos
from rtguard.detect.condition.parser import ParseError, parse_field_ref
from rtguard.detect.extractors import Extractor
from rtguard.detect.fields import FieldError, resolve_field
from rtguard.detect.result import LoadCode, LoadResult, SourceLocation, format_messages
from rtguard.detect.rule import CompiledRule
from rtguard.detect.templates import Template, compile_template
from rtguard.detect.yamlsrc import read_items
from rtguard.model.findings import FINDING_TYPES_BY_NAME, RUNTIME_CONTEXT_KEYS

# Load order of the shipped files (package data in rtguard/rules); a test checks that every
# YAML file there is listed.
SHIPPED_RULE_FILES: Final = (
    "crypto_miner.yaml",
    "suspicious_tool.yaml",
    "discovery_command.yaml",
    "container_escape.yaml",
    "process_injection.yaml",
    "fileless_execution.yaml",
    "suspicious_command.yaml",
    "sensitive_file.yaml",
    "elevation_to_root.yaml",
)

# Falco priorities, and the severity a rule without a GuardDuty finding type gets from them.
PRIORITY_SEVERITY: Final[Mapping[str, float]] = {
    "emergency": 10.0,
    "alert": 9.0,
    "critical": 9.0,
    "error": 8.0,
    "warning": 5.0,
    "notice": 3.0,
    "informational": 2.0,
    "info": 2.0,
    "debug": 1.0,
}
CUSTOM_TYPE_PREFIX: Final = "Custom:Runtime/"
_TYPE_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*:[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9][A-Za-z0-9.!&_-]*")
_DEFAULT_ARTIFACT: Final = ("proc.exepath",)

Source = tuple[str, str]


def shipped_rule_sources() -> list[Source]:
    """``(path, text)`` of every shipped rule file, in load order."""
    folder = resources.files("rtguard").joinpath("rules")
    return [
        (str(folder.joinpath(name)), folder.joinpath(name).read_text("utf-8")) for name in SHIPPED_RULE_FILES
    ]


def load_rules(
    paths: Iterable[str | os.PathLike[str]] = (), *, shipped: bool = True
) -> LoadResult[CompiledRule]:
    """Load the shipped rules (unless ``shipped`` is false) and then ``paths``, in order.

    A directory stands for its ``*.yaml`` and ``*.yml`` files in name order (like Falco's
    ``rules.d``). Later files may append to or override lists, macros and rules of earlier
    ones. A path that is one of the shipped files is not loaded twice. Unreadable files are
    errors.
    """
    result: LoadResult[CompiledRule] = LoadResult()
    sources: list[Source] = shipped_rule_sources() if shipped else []
    seen = {_real(p) for p, _ in sources}
    for path in _expand(paths):
        label = os.fspath(path)
        if _real(label) in seen:
            continue
        seen.add(_real(label))
        try:
            sources.append((label, Path(label).read_text("utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            result.error(LoadCode.FILE_READ, f"cannot read rules file: {exc}", SourceLocation(label))
    return _load(sources, result)


def load_rule_texts(sources: Iterable[Source], *, shipped: bool = False) -> LoadResult[CompiledRule]:
    """Load rules from ``(name, yaml_text)`` pairs (tests, the API), after the shipped ones if asked."""
    result: LoadResult[CompiledRule] = LoadResult()
    return _load([*(shipped_rule_sources() if shipped else []), *sources], result)


def validate_rule_files(paths: Iterable[str | os.PathLike[str]]) -> LoadResult[CompiledRule]:
    """What ``rtguard rules validate`` checks: ``paths`` loaded on top of the shipped rules."""
    return load_rules(paths, shipped=True)


def format_load_result(result: LoadResult[CompiledRule], *, warnings: bool = True) -> str:
    """One ``path:line:col: CODE message`` line per problem, errors first."""
    return "\n".join(format_messages(result, warnings=warnings))


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    out: list[str] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            out += sorted(str(f) for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
        else:
            out.append(os.fspath(path))
    return out


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


def _load(sources: list[Source], result: LoadResult[CompiledRule]) -> LoadResult[CompiledRule]:
    collector = Collector(result)
    for label, text in sources:
        for item in read_items(label, text, result):
            collector.add(item)
    compiler = Compiler(collector.lists, collector.macros, result)
    ids: dict[str, str] = {}
    for rule in collector.rules.values():
        if rule.broken:
            continue
        if rule.source != "syscall":
            result.warn(LoadCode.SKIPPED_RULE, f"source '{rule.source}' is not supported", _loc(rule))
            continue
        compiled = compiler.compile_rule(rule)
        built = _build(rule, compiled, result) if compiled is not None else None
        if built is None:
            continue
        if built.rule_id in ids:
            result.error(
                LoadCode.DUPLICATE_ID,
                f"id '{built.rule_id}' is already used by rule '{ids[built.rule_id]}'",
                _loc(rule, "id"),
            )
            continue
        ids[built.rule_id] = rule.name
        result.items.append(built)
    _report_unused(collector, compiler, result)
    return result


def _report_unused(collector: Collector, compiler: Compiler, result: LoadResult[CompiledRule]) -> None:
    for name, macro in collector.macros.items():
        if name not in compiler.used_macros:
            compiler.check_macro(macro)
            result.warn(LoadCode.UNUSED_MACRO, f"macro '{name}' is not used", _sloc(macro.pos, name))
    for name, lst in collector.lists.items():
        if name not in compiler.used_lists:
            result.warn(LoadCode.UNUSED_LIST, f"list '{name}' is not used", _sloc(lst.pos, name))


def _sloc(pos: Pos, item: str) -> SourceLocation:
    return SourceLocation(pos.path, pos.line, pos.column, item)


def _loc(rule: RuleDef, key: str | None = None) -> SourceLocation:
    return _sloc(rule.key_pos.get(key, rule.pos) if key else rule.pos, rule.name)


# -- our keys ---------------------------------------------------------------------------------------


def _build(rule: RuleDef, compiled: Compiled, result: LoadResult[CompiledRule]) -> CompiledRule | None:
    errors_before = len(result.errors)
    if compiled.kinds == ALL_KINDS and rule.warn_evttypes:
        result.warn(
            LoadCode.NO_EVTTYPE,
            "condition does not restrict evt.type: the rule runs on every event",
            _loc(rule),
        )
    finding_type, severity = _finding_type(rule, result)
    artifact = _artifact(rule, result)
    context = _context(rule, result)
    output = _output(rule, result)
    if len(result.errors) != errors_before or finding_type is None:
        return None
    rule_id = rule.rule_id
    if not rule_id:
        result.warn(LoadCode.NO_ID, "rule has no 'id'; its name is used as the id", _loc(rule))
        rule_id = rule.name
    return CompiledRule(
        rule_id=rule_id,
        name=rule.name,
        desc=rule.desc.strip(),
        finding_type=finding_type,
        severity=severity,
        priority=rule.priority.lower(),
        tags=tuple(rule.tags),
        enabled=rule.enabled,
        kinds=compiled.kinds,
        condition=rule.condition,
        location=_loc(rule),
        matches=compiled.fn,
        names=compiled.names,
        artifact_fields=artifact,
        context=context,
        output=output,
    )


def _finding_type(rule: RuleDef, result: LoadResult[CompiledRule]) -> tuple[str | None, float | None]:
    severity = rule.severity
    if severity is not None and not 1.0 <= severity <= 10.0:
        result.error(LoadCode.SEVERITY, f"severity {severity:g} is outside 1-10", _loc(rule, "severity"))
    priority = rule.priority.lower()
    if priority and priority not in PRIORITY_SEVERITY:
        known = ", ".join(PRIORITY_SEVERITY)
        result.error(
            LoadCode.YAML_VALIDATE,
            f"unknown priority '{rule.priority}' (one of {known})",
            _loc(rule, "priority"),
        )
    name = rule.finding_type
    if not name:
        derived = CUSTOM_TYPE_PREFIX + "".join(
            w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", rule.name)
        )
        result.warn(
            LoadCode.NO_FINDING_TYPE, f"rule has no 'finding_type'; it reports as '{derived}'", _loc(rule)
        )
        return derived, severity if severity is not None else PRIORITY_SEVERITY.get(priority, 5.0)
    if name in FINDING_TYPES_BY_NAME:
        return name, severity
    if not _TYPE_RE.fullmatch(name):
        result.error(
            LoadCode.FINDING_TYPE,
            f"'{name}' is neither a GuardDuty runtime finding type nor of the form Purpose:Runtime/Name",
            _loc(rule, "finding_type"),
        )
        return None, None
    if severity is None:
        result.error(
            LoadCode.SEVERITY,
            f"'{name}' is not a GuardDuty type, so 'severity' (1-10) is required",
            _loc(rule),
        )
        return None, None
    return name, severity


def _artifact(rule: RuleDef, result: LoadResult[CompiledRule]) -> tuple[Extractor, ...]:
    out: list[Extractor] = []
    for name in rule.artifact or _DEFAULT_ARTIFACT:
        pos = rule.key_pos.get("artifact", rule.pos)
        try:
            ref = parse_field_ref(
                name.removeprefix("%"), Origin.of_text(name, pos.path, pos.line, pos.column)
            )
        except ParseError as exc:
            result.error(LoadCode.UNKNOWN_FIELD, f"artifact: {exc.message}", _sloc(exc.pos, rule.name))
            continue
        resolved = resolve_field(FieldRef(ref.name, ref.arg))
        if isinstance(resolved, FieldError):
            code = LoadCode.UNKNOWN_FIELD if resolved.unknown else LoadCode.FIELD_ARG
            result.error(code, f"artifact: {resolved.message}", _loc(rule, "artifact"))
            continue
        out.append(resolved.extract)
    return tuple(out)


def _context(rule: RuleDef, result: LoadResult[CompiledRule]) -> tuple[tuple[str, Template], ...]:
    out: list[tuple[str, Template]] = []
    for key, text in rule.context.items():
        if key not in RUNTIME_CONTEXT_KEYS:
            result.error(
                LoadCode.CONTEXT, f"'{key}' is not a GuardDuty RuntimeContext key", _loc(rule, "context")
            )
            continue
        template = compile_template(text)
        if isinstance(template, list):
            for message, _pos in template:
                result.error(LoadCode.TEMPLATE, f"context '{key}': {message}", _loc(rule, "context"))
            continue
        out.append((key, template))
    return tuple(out)


def _output(rule: RuleDef, result: LoadResult[CompiledRule]) -> Template | None:
    if not rule.output.strip():
        return None
    origin = rule.output_origin or Origin.of_text(rule.output, rule.pos.path, rule.pos.line, rule.pos.column)
    template = compile_template(rule.output, origin)
    if isinstance(template, list):
        for message, pos in template:
            result.error(LoadCode.TEMPLATE, f"output: {message}", _sloc(pos, rule.name))
        return None
    return template.stripped()
