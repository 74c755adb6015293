"""The collector: turns YAML items into list, macro and rule definitions, applying Falco's
``append: true`` (old style) and ``override:`` (new style) across files in load order.

Each item is checked against a key table (type of each key, which keys may be appended or
replaced); problems become located ``LoadError``/``LoadWarning`` entries and the bad item is
skipped. A later definition with the same name replaces an earlier one. The collector must
not parse conditions or know fields (that is the compiler), and reads no files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar

from rtguard.detect.condition.ast import Origin, Pos
from rtguard.detect.result import LoadCode, LoadResult, SourceLocation
from rtguard.detect.yamlsrc import YamlItem

T = TypeVar("T")


@dataclass(slots=True)
class ListDef:
    """``- list:``: named values, usable in ``in (...)`` and in other lists."""

    name: str
    items: list[str]
    pos: Pos


@dataclass(slots=True)
class MacroDef:
    """``- macro:``: a named condition fragment."""

    name: str
    condition: str
    origin: Origin
    pos: Pos


@dataclass(slots=True)
class ExceptionDef:
    """One entry of a rule's ``exceptions``: ``fields``, ``comps`` and rows of ``values``."""

    name: str
    fields: list[str] | str | None
    comps: list[str] | str | None
    values: list[object]
    pos: Pos
    field_pos: list[Pos] = field(default_factory=list)
    value_pos: list[Pos] = field(default_factory=list)


@dataclass(slots=True)
class RuleDef:
    """``- rule:`` after every append and override; ``pos`` is where it was first defined.

    ``broken`` marks a rule with a definition error already reported (it is not compiled).
    """

    name: str
    pos: Pos
    condition: str = ""
    origin: Origin | None = None
    desc: str = ""
    output: str = ""
    output_origin: Origin | None = None
    priority: str = ""
    tags: list[str] = field(default_factory=list)
    enabled: bool = True
    exceptions: list[ExceptionDef] = field(default_factory=list)
    rule_id: str = ""
    finding_type: str = ""
    severity: float | None = None
    artifact: list[str] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)
    skip_unknown: bool = False
    warn_evttypes: bool = True
    source: str = "syscall"
    key_pos: dict[str, Pos] = field(default_factory=dict)
    broken: bool = False


T_def = TypeVar("T_def", ListDef, MacroDef, RuleDef)


# -- key tables ---------------------------------------------------------------------------------

Check = Callable[[object], str | None]


def _is_str(v: object) -> str | None:
    return None if isinstance(v, str) else "must be a string"


def _is_bool(v: object) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _is_number(v: object) -> str | None:
    return None if isinstance(v, int | float) and not isinstance(v, bool) else "must be a number"


def _is_scalar_list(v: object) -> str | None:
    ok = isinstance(v, list) and all(isinstance(i, str | int | float) and not isinstance(i, bool) for i in v)
    return None if ok else "must be a list of strings"


def _is_str_or_list(v: object) -> str | None:
    return (
        None if isinstance(v, str) or _is_scalar_list(v) is None else "must be a string or a list of strings"
    )


def _is_str_map(v: object) -> str | None:
    ok = isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
    return None if ok else "must be a mapping of strings to strings"


def _is_map(v: object) -> str | None:
    return None if isinstance(v, dict) else "must be a mapping"


def _is_list(v: object) -> str | None:
    return None if isinstance(v, list) else "must be a list"


def _is_any(_v: object) -> str | None:
    return None


RULE_KEYS: Final[Mapping[str, Check]] = {
    "rule": _is_str,
    "condition": _is_str,
    "desc": _is_str,
    "output": _is_str,
    "priority": _is_str,
    "tags": _is_scalar_list,
    "enabled": _is_bool,
    "exceptions": _is_list,
    "append": _is_bool,
    "override": _is_map,
    "skip-if-unknown-filter": _is_bool,
    "warn_evttypes": _is_bool,
    "source": _is_str,
    "id": _is_str,
    "finding_type": _is_str,
    "severity": _is_number,
    "artifact": _is_str_or_list,
    "context": _is_str_map,
    "capture": _is_any,
    "capture_duration": _is_any,
}
MACRO_KEYS: Final[Mapping[str, Check]] = {
    "macro": _is_str,
    "condition": _is_str,
    "append": _is_bool,
    "override": _is_map,
}
LIST_KEYS: Final[Mapping[str, Check]] = {
    "list": _is_str,
    "items": _is_scalar_list,
    "append": _is_bool,
    "override": _is_map,
}
_KEYS: Final = {"rule": RULE_KEYS, "macro": MACRO_KEYS, "list": LIST_KEYS}
_IGNORED_ITEMS: Final = frozenset({"required_engine_version", "required_plugin_versions", "version"})

OVERRIDABLE: Final[Mapping[str, Mapping[str, frozenset[str]]]] = {
    "list": {"append": frozenset({"items"}), "replace": frozenset({"items"})},
    "macro": {"append": frozenset({"condition"}), "replace": frozenset({"condition"})},
    "rule": {
        "append": frozenset({"condition", "output", "desc", "tags", "exceptions", "context"}),
        "replace": frozenset(
            {
                "condition",
                "output",
                "desc",
                "priority",
                "tags",
                "exceptions",
                "enabled",
                "warn_evttypes",
                "skip-if-unknown-filter",
                "finding_type",
                "severity",
                "artifact",
                "context",
            }
        ),
    },
}
_RULE_REQUIRED: Final = ("condition", "desc")
_APPENDABLE: Final = {"list": ("items",), "macro": ("condition",), "rule": ("condition", "exceptions")}


class Collector:
    """Collects definitions from items of one or more files, in order."""

    def __init__(self, result: LoadResult[T]) -> None:
        self._result: LoadResult[T] = result
        self.lists: dict[str, ListDef] = {}
        self.macros: dict[str, MacroDef] = {}
        self.rules: dict[str, RuleDef] = {}

    # -- entry point ---------------------------------------------------------------------------

    def add(self, item: YamlItem) -> None:
        """Apply one item: a new definition, a replacement, an append or an override."""
        if item.broken:
            return
        kinds = [k for k in _KEYS if k in item.values]
        if len(kinds) != 1:
            ignored = [k for k in item.values if k in _IGNORED_ITEMS]
            if not kinds and ignored:
                return
            what = "more than one of" if kinds else "none of"
            self.error(LoadCode.YAML_VALIDATE, f"item has {what} 'rule', 'macro', 'list'", item.loc())
            return
        kind = kinds[0]
        name = item.values[kind]
        if not isinstance(name, str) or not name:
            self.error(LoadCode.YAML_VALIDATE, f"'{kind}' must be a non-empty string", item.loc(kind))
            return
        if not self._check_keys(kind, name, item):
            return
        override = item.values.get("override")
        if item.values.get("append") is True and override is not None:
            self.error(
                LoadCode.OVERRIDE, "'append' and 'override' cannot be used together", item.loc(kind, name)
            )
            return
        handler = _HANDLERS[kind]
        handler(self, name, item, override if isinstance(override, dict) else None)

    def _check_keys(self, kind: str, name: str, item: YamlItem) -> bool:
        table = _KEYS[kind]
        ok = True
        for key, value in item.values.items():
            check = table.get(key)
            if check is None:
                self.warn(LoadCode.UNKNOWN_KEY, f"unknown key '{key}' ignored", item.loc(key, name))
                continue
            problem = check(value)
            if problem is not None:
                self.error(LoadCode.YAML_VALIDATE, f"'{key}' {problem}", item.loc(key, name))
                ok = False
        return ok

    # -- lists and macros ----------------------------------------------------------------------

    def _list(self, name: str, item: YamlItem, override: dict[object, object] | None) -> None:
        raw = item.values.get("items")
        if raw is None:
            self.error(LoadCode.YAML_VALIDATE, "a list needs 'items'", item.loc("list", name))
            return
        assert isinstance(raw, list)
        values = [str(v) for v in raw]
        modes = self._modes("list", name, item, override)
        if modes is None:
            return
        if modes.get("items") == "append":
            prev = self._existing(self.lists, name, "list", item)
            if prev is not None:
                prev.items.extend(values)
            return
        if modes.get("items") == "replace" and self._existing(self.lists, name, "list", item) is None:
            return
        self.lists[name] = ListDef(name, values, item.pos)

    def _macro(self, name: str, item: YamlItem, override: dict[object, object] | None) -> None:
        cond = item.values.get("condition")
        if cond is None:
            self.error(LoadCode.YAML_VALIDATE, "a macro needs a 'condition'", item.loc("macro", name))
            return
        assert isinstance(cond, str)
        modes = self._modes("macro", name, item, override)
        if modes is None:
            return
        if modes.get("condition") == "append":
            prev = self._existing(self.macros, name, "macro", item)
            if prev is not None:
                prev.condition += " " + cond
                prev.origin = prev.origin.joined(item.origin("condition"))
            return
        if modes.get("condition") == "replace" and self._existing(self.macros, name, "macro", item) is None:
            return
        self.macros[name] = MacroDef(name, cond, item.origin("condition"), item.pos)

    def _modes(
        self, kind: str, name: str, item: YamlItem, override: dict[object, object] | None
    ) -> dict[str, str] | None:
        """Which keys append and which replace; ``None`` after an error."""
        if item.values.get("append") is True:
            appended = {k: "append" for k in _APPENDABLE[kind] if k in item.values}
            for other in item.values:
                if other not in appended and other not in (kind, "append"):
                    self.warn(
                        LoadCode.UNKNOWN_KEY,
                        f"'{other}' is ignored with 'append: true'",
                        item.loc(other, name),
                    )
            if not appended:
                self.error(LoadCode.APPEND, "'append: true' with nothing to append", item.loc(kind, name))
                return None
            return appended
        if override is None:
            return {}
        modes: dict[str, str] = {}
        allowed = OVERRIDABLE[kind]
        for key, raw_mode in override.items():
            loc = item.loc("override", name)
            mode = str(raw_mode)
            if raw_mode not in allowed or not isinstance(key, str):
                self.error(LoadCode.OVERRIDE, f"override of '{key}' must be 'append' or 'replace'", loc)
                return None
            if key not in allowed[mode]:
                self.error(LoadCode.OVERRIDE, f"'{key}' of a {kind} cannot be overridden with '{mode}'", loc)
                return None
            if key not in item.values:
                self.error(LoadCode.OVERRIDE, f"override names '{key}' but the item has no '{key}'", loc)
                return None
            modes[key] = mode
        for other in item.values:
            if other not in modes and other not in (kind, "override"):
                self.error(LoadCode.OVERRIDE, f"'{other}' is not listed in 'override'", item.loc(other, name))
                return None
        return modes

    def _existing(self, table: dict[str, T_def], name: str, kind: str, item: YamlItem) -> T_def | None:
        prev = table.get(name)
        if prev is None:
            self.error(
                LoadCode.APPEND,
                f"cannot append to or override {kind} '{name}': not defined before",
                item.loc(kind, name),
            )
        return prev

    # -- rules ---------------------------------------------------------------------------------

    def _rule(self, name: str, item: YamlItem, override: dict[object, object] | None) -> None:
        modes = self._modes("rule", name, item, override)
        if modes is None:
            return
        keys = set(item.values) - {"rule", "append", "override"}
        if not modes and keys == {"enabled"}:
            # Falco's short form to switch a defined rule on or off.
            modes = {"enabled": "replace"}
        if modes:
            prev = self._existing(self.rules, name, "rule", item)
            if prev is not None:
                self._merge_rule(prev, item, modes)
            return
        missing = [k for k in _RULE_REQUIRED if k not in item.values]
        if missing:
            self.error(LoadCode.YAML_VALIDATE, f"a rule needs {', '.join(missing)}", item.loc("rule", name))
            return
        rule = RuleDef(name=name, pos=item.pos)
        for key in item.values:
            _set_rule_key(rule, key, item, self)
        self.rules.pop(name, None)
        self.rules[name] = rule

    def _merge_rule(self, rule: RuleDef, item: YamlItem, modes: dict[str, str]) -> None:
        for key, mode in modes.items():
            if mode == "replace":
                if key == "exceptions":
                    rule.exceptions = []
                _set_rule_key(rule, key, item, self)
                continue
            value = item.values[key]
            if key == "condition":
                assert isinstance(value, str)
                rule.condition += " " + value
                base = rule.origin or Origin.of_text(rule.condition)
                rule.origin = base.joined(item.origin(key))
            elif key in ("output", "desc"):
                assert isinstance(value, str)
                setattr(rule, key, getattr(rule, key) + " " + value)
                if key == "output":
                    rule.output_origin = None
            elif key == "tags":
                assert isinstance(value, list)
                rule.tags += [str(t) for t in value if str(t) not in rule.tags]
            elif key == "context":
                assert isinstance(value, dict)
                rule.context.update(value)
            elif key == "exceptions":
                self._append_exceptions(rule, item)

    def _append_exceptions(self, rule: RuleDef, item: YamlItem) -> None:
        parsed = _parse_exceptions(item, rule.name, self)
        if parsed is None:
            rule.broken = True
            return
        for new in parsed:
            prev = next((e for e in rule.exceptions if e.name == new.name), None)
            if prev is None:
                rule.exceptions.append(new)
                continue
            if new.fields is not None and new.fields != prev.fields:
                self.error(
                    LoadCode.EXCEPTION,
                    f"exception '{new.name}' is appended with different fields",
                    _sloc(new.pos, rule.name),
                )
                rule.broken = True
                continue
            prev.values += new.values
            prev.value_pos += new.value_pos

    # -- reporting -----------------------------------------------------------------------------

    def error(self, code: LoadCode, message: str, loc: SourceLocation) -> None:
        self._result.error(code, message, loc)

    def warn(self, code: LoadCode, message: str, loc: SourceLocation) -> None:
        self._result.warn(code, message, loc)


def _sloc(pos: Pos, item: str) -> SourceLocation:
    return SourceLocation(pos.path, pos.line, pos.column, item)


def _set_rule_key(rule: RuleDef, key: str, item: YamlItem, collector: Collector) -> None:
    value = item.values[key]
    if key in item.value_pos:
        rule.key_pos[key] = item.value_pos[key]
    setter = _RULE_SETTERS.get(key)
    if setter is not None:
        setter(rule, value, item, collector)


def _set_condition(rule: RuleDef, value: object, item: YamlItem, _c: Collector) -> None:
    rule.condition = str(value)
    rule.origin = item.origin("condition")


def _set_output(rule: RuleDef, value: object, item: YamlItem, _c: Collector) -> None:
    rule.output = str(value)
    rule.output_origin = item.origin("output")


def _set_exceptions(rule: RuleDef, _value: object, item: YamlItem, c: Collector) -> None:
    parsed = _parse_exceptions(item, rule.name, c)
    if parsed is None:
        rule.broken = True
    else:
        rule.exceptions = parsed


def _set_artifact(rule: RuleDef, value: object, _item: YamlItem, _c: Collector) -> None:
    rule.artifact = [value] if isinstance(value, str) else _to_strs(value)


def _simple(
    attr: str, convert: Callable[[object], object]
) -> Callable[[RuleDef, object, YamlItem, Collector], None]:
    def setter(rule: RuleDef, value: object, _item: YamlItem, _c: Collector) -> None:
        setattr(rule, attr, convert(value))

    return setter


def _to_float(v: object) -> float:
    assert isinstance(v, int | float)
    return float(v)


def _to_strs(v: object) -> list[str]:
    assert isinstance(v, list)
    return [str(i) for i in v]


def _to_str_dict(v: object) -> dict[str, str]:
    assert isinstance(v, dict)
    return {str(k): str(x) for k, x in v.items()}


_RULE_SETTERS: Final[Mapping[str, Callable[[RuleDef, object, YamlItem, Collector], None]]] = {
    "condition": _set_condition,
    "output": _set_output,
    "exceptions": _set_exceptions,
    "artifact": _set_artifact,
    "desc": _simple("desc", str),
    "priority": _simple("priority", str),
    "tags": _simple("tags", _to_strs),
    "enabled": _simple("enabled", bool),
    "id": _simple("rule_id", str),
    "finding_type": _simple("finding_type", str),
    "severity": _simple("severity", _to_float),
    "context": _simple("context", _to_str_dict),
    "skip-if-unknown-filter": _simple("skip_unknown", bool),
    "warn_evttypes": _simple("warn_evttypes", bool),
    "source": _simple("source", str),
}


def _parse_exceptions(item: YamlItem, rule: str, collector: Collector) -> list[ExceptionDef] | None:
    """The exceptions of an item, or ``None`` after reporting a malformed one."""
    raw = item.values.get("exceptions")
    out: list[ExceptionDef] = []
    if not isinstance(raw, list):
        return out
    ok = True
    for i, entry in enumerate(raw):
        pos = item.nested_pos("exceptions", i)
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            collector.error(LoadCode.EXCEPTION, "an exception is a mapping with a 'name'", _sloc(pos, rule))
            ok = False
            continue
        fields_ok, fields = _as_names(entry.get("fields"))
        comps_ok, comps = _as_names(entry.get("comps"))
        values = entry.get("values", [])
        if not fields_ok or not comps_ok or not isinstance(values, list):
            collector.error(
                LoadCode.EXCEPTION,
                f"exception '{entry['name']}': 'fields' and 'comps' are a string or a list of strings, "
                "'values' a list",
                _sloc(pos, rule),
            )
            ok = False
            continue
        field_count = len(fields) if isinstance(fields, list) else 1
        field_pos = [item.nested_pos("exceptions", i, "fields", j) for j in range(field_count)]
        if isinstance(fields, str):
            field_pos = [item.nested_pos("exceptions", i, "fields")]
        value_pos = [item.nested_pos("exceptions", i, "values", j) for j in range(len(values))]
        out.append(
            ExceptionDef(
                name=str(entry["name"]),
                fields=fields,
                comps=comps,
                values=list(values),
                pos=pos,
                field_pos=field_pos,
                value_pos=value_pos,
            )
        )
    return out if ok else None


def _as_names(v: object) -> tuple[bool, str | list[str] | None]:
    if v is None or isinstance(v, str):
        return True, v
    if isinstance(v, list) and all(isinstance(i, str) for i in v):
        return True, [str(i) for i in v]
    return False, None


_HANDLERS: Final[Mapping[str, Callable[[Collector, str, YamlItem, dict[object, object] | None], None]]] = {
    "list": Collector._list,
    "macro": Collector._macro,
    "rule": Collector._rule,
}
