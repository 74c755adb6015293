"""The rule loader with inline YAML: located errors, append/override, exceptions, our keys."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtguard.detect import (
    Engine,
    LoadCode,
    LoadResult,
    format_load_result,
    load_rule_texts,
    load_rules,
    validate_rule_files,
)
from rtguard.detect.loader import shipped_rule_sources
from rtguard.detect.rule import CompiledRule
from rtguard.model.events import EventKind
from rtguard.testing.events import exec_event

MINER = "Impact:Runtime/CryptoMinerExecuted"
_KEYS = ["rule", "macro", "list", "items", "condition", "desc", "output", "priority", "tags", "enabled",
         "exceptions", "append", "override", "id", "finding_type", "severity", "artifact", "context",
         "name", "fields", "comps", "values", "source", "skip-if-unknown-filter"]  # fmt: skip


def load(*texts: str) -> LoadResult[CompiledRule]:
    return load_rule_texts([(f"f{i}.yaml", textwrap.dedent(t)) for i, t in enumerate(texts, 1)])


def codes(result: LoadResult[CompiledRule]) -> list[LoadCode]:
    return [e.code for e in result.errors]


def warning_codes(result: LoadResult[CompiledRule]) -> list[LoadCode]:
    return [w.code for w in result.warnings]


def rule(name: str = "R", condition: str = "evt.type = execve and proc.name = x", **extra: str) -> str:
    lines = [f"- rule: {name}", "  id: T-0001", "  desc: Detect a test case", f"  condition: {condition}",
             f"  finding_type: {MINER}"]  # fmt: skip
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def fires(result: LoadResult[CompiledRule], **kw: object) -> list[str]:
    name = str(kw.pop("name", "x"))
    return [d.rule_id for d in Engine(result.items).evaluate(exec_event(name, **kw))]  # type: ignore[arg-type]


# -- basics and locations -------------------------------------------------------------------------


def test_a_minimal_rule_loads_and_fires() -> None:
    result = load(rule())
    assert result.ok and not result.warnings
    (r,) = result.items
    assert (r.rule_id, r.name, r.finding_type, r.kinds) == (
        "T-0001",
        "R",
        MINER,
        frozenset({EventKind.PROCESS_EXEC}),
    )
    assert fires(result) == ["T-0001"]
    assert fires(result, name="y") == []


def test_unknown_field_is_located_inside_a_folded_condition() -> None:
    result = load(
        """\
        - rule: R
          id: T-0001
          desc: Detect a test case
          condition: >
            evt.type = process_exec
            and proc.nosuch = 1
          finding_type: Impact:Runtime/CryptoMinerExecuted
        """
    )
    (err,) = result.errors
    assert err.code is LoadCode.UNKNOWN_FIELD
    assert (err.location.path, err.location.line, err.location.column, err.location.item) == (
        "f1.yaml",
        6,
        9,
        "R",
    )
    assert result.items == []


def test_errors_in_quoted_and_literal_scalars_are_located() -> None:
    result = load(
        """\
        - rule: A
          id: T-0001
          desc: Detect a
          condition: "evt.type = execve and proc.name = \\"x\\" and proc.bad = 1"
          finding_type: Impact:Runtime/CryptoMinerExecuted
        - rule: B
          id: T-0002
          desc: Detect b
          condition: |
            evt.type = execve
              and proc.name in (a,
                                b c)
          finding_type: Impact:Runtime/CryptoMinerExecuted
        """
    )
    first, second = sorted(result.errors, key=lambda e: e.location.line)
    assert (first.code, first.location.line, first.location.column) == (LoadCode.UNKNOWN_FIELD, 4, 59)
    assert (second.code, second.location.line, second.location.column) == (LoadCode.CONDITION_PARSE, 12, 27)


def test_repeated_characters_keep_their_own_columns() -> None:
    result = load(rule(condition="evt.type = execve and proc.name in (a,,b)"))
    (err,) = result.errors
    assert (err.code, err.location.line, err.location.column) == (LoadCode.CONDITION_PARSE, 4, 52)


def test_loading_continues_after_errors_and_keeps_good_rules() -> None:
    result = load(
        rule("Bad1", "proc.name = (", id="T-1")
        + rule("Good", id="T-2")
        + rule("Bad2", "evt.type = execve and frob")
    )
    assert sorted(codes(result)) == sorted([LoadCode.CONDITION_PARSE, LoadCode.UNDEFINED_MACRO])
    assert [r.name for r in result.items] == ["Good"]


def test_yaml_errors_and_shapes() -> None:
    bad_yaml = load("- rule: R\n  desc: [unclosed\n")
    assert codes(bad_yaml) == [LoadCode.YAML_PARSE]
    assert bad_yaml.errors[0].location.line >= 2
    assert codes(load("rule: R\n")) == [LoadCode.YAML_VALIDATE]
    assert codes(load("- just a string\n")) == [LoadCode.YAML_VALIDATE]
    assert codes(load("- rule: R\n  macro: M\n")) == [LoadCode.YAML_VALIDATE]
    assert codes(load("- rule: R\n  desc: Detect\n")) == [LoadCode.YAML_VALIDATE]
    assert codes(load(rule(enabled="maybe"))) == [LoadCode.YAML_VALIDATE]
    assert load("").ok and load("# only a comment\n").ok


def test_unknown_keys_warn_and_falco_headers_are_ignored() -> None:
    result = load("- required_engine_version: 0.57.0\n" + rule(colour="red"))
    assert result.ok and warning_codes(result) == [LoadCode.UNKNOWN_KEY]
    assert result.warnings[0].location.line == 7


def test_messages_are_formatted_for_the_cli() -> None:
    result = load(rule("R", "evt.type = execve and proc.nosuch = 1"))
    text = format_load_result(result)
    assert text == "f1.yaml:4:36: LOAD_ERR_UNKNOWN_FIELD unknown field 'proc.nosuch' (R)"


def test_file_paths_unreadable_and_shipped_deduplicated(tmp_path: Path) -> None:
    missing = load_rules([tmp_path / "nope.yaml"], shipped=False)
    assert codes(missing) == [LoadCode.FILE_READ]
    shipped_path = shipped_rule_sources()[0][0]
    result = validate_rule_files([shipped_path])
    assert result.ok, format_load_result(result)
    user = tmp_path / "user.yaml"
    user.write_text(rule(id="USER-1"))
    both = validate_rule_files([user])
    assert both.ok and both.items[-1].rule_id == "USER-1"
    assert len(both.items) == len(load_rules().items) + 1


def test_a_directory_loads_its_yaml_files_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text("- list: names\n  items: [b]\n  append: true\n")
    (tmp_path / "a.yaml").write_text(
        "- list: names\n  items: [a]\n" + rule(condition="evt.type = execve and proc.name in (names)")
    )
    (tmp_path / "notes.txt").write_text("not yaml")
    result = load_rules([tmp_path], shipped=False)
    assert result.ok, result.errors
    assert fires(result, name="b") == ["T-0001"]


# -- lists and macros -----------------------------------------------------------------------------


def test_lists_nest_and_expand_inside_in() -> None:
    result = load(
        """\
        - list: inner
          items: [b, c]
        - list: outer
          items: [a, inner]
        - macro: is_target
          condition: proc.name in (outer, "inner", d)
        """,
        rule(condition="evt.type = execve and is_target"),
    )
    assert result.ok, result.errors
    assert [fires(result, name=n) for n in ("a", "b", "c", "d", "inner", "e")] == [["T-0001"]] * 5 + [[]]


def test_macros_may_be_defined_after_use() -> None:
    result = load(
        rule(condition="evt.type = execve and later"), "- macro: later\n  condition: proc.name = x\n"
    )
    assert result.ok and fires(result) == ["T-0001"]


def test_macro_errors_are_reported_once_at_the_macro() -> None:
    result = load(
        "- macro: broken\n  condition: proc.nosuch = 1\n",
        rule("A", "evt.type = execve and broken", id="T-1")
        + rule("B", "evt.type = execve and broken", id="T-2"),
    )
    at_macro = [e for e in result.errors if e.location.item == "broken"]
    assert len(at_macro) == 1 and at_macro[0].location.path == "f1.yaml"
    assert {e.location.item for e in result.errors} == {"broken", "A", "B"}
    assert all(e.code is LoadCode.UNKNOWN_FIELD for e in result.errors)


def test_macro_cycles_are_errors() -> None:
    result = load(
        "- macro: a\n  condition: b\n- macro: b\n  condition: a\n", rule(condition="evt.type = execve and a")
    )
    assert LoadCode.MACRO_CYCLE in codes(result) and not result.items


def test_unused_macros_and_lists_warn_and_are_still_checked() -> None:
    result = load("- macro: spare\n  condition: proc.bad = 1\n- list: extra\n  items: [a]\n", rule())
    assert codes(result) == [LoadCode.UNKNOWN_FIELD]
    assert sorted(warning_codes(result)) == sorted([LoadCode.UNUSED_MACRO, LoadCode.UNUSED_LIST])


# -- append and override --------------------------------------------------------------------------


def test_old_style_append_to_list_macro_and_rule_across_files() -> None:
    base = "- list: names\n  items: [a]\n- macro: m\n  condition: proc.name in (names)\n" + rule(
        condition="evt.type = execve and m"
    )
    user = """\
        - list: names
          items: [b]
          append: true
        - macro: m
          condition: or proc.name = c
          append: true
        - rule: R
          condition: and not proc.pid = 13
          append: true
        """
    result = load(base, user)
    assert result.ok, result.errors
    assert fires(result, name="b") == ["T-0001"]
    assert fires(result, name="c") == ["T-0001"]
    assert fires(result, name="b", pid=13) == []


def test_errors_in_appended_text_point_into_the_appending_file() -> None:
    result = load(rule(), "- rule: R\n  condition: and proc.nosuch = 2\n  append: true\n")
    (err,) = result.errors
    assert (err.location.path, err.location.line, err.location.column) == ("f2.yaml", 2, 18)


def test_new_style_override_replace_and_append() -> None:
    user = """\
        - rule: R
          condition: evt.type = execve and proc.name = y
          desc: Detect y instead
          override:
            condition: replace
            desc: replace
        - rule: R
          exceptions:
            - name: pids
              fields: proc.pid
              values: [7]
          override:
            exceptions: append
        """
    result = load(rule(), user)
    assert result.ok, result.errors
    assert fires(result, name="x") == []
    assert fires(result, name="y") == ["T-0001"]
    assert fires(result, name="y", pid=7) == []
    assert result.items[0].desc == "Detect y instead"


@pytest.mark.parametrize(
    ("user", "code"),
    [
        ("- rule: Nope\n  condition: x\n  append: true\n", LoadCode.APPEND),
        ("- list: nope\n  items: [a]\n  override:\n    items: append\n", LoadCode.APPEND),
        ("- rule: R\n  condition: a\n  override:\n    condition: merge\n", LoadCode.OVERRIDE),
        ("- rule: R\n  priority: INFO\n  override:\n    priority: append\n", LoadCode.OVERRIDE),
        ("- rule: R\n  override:\n    condition: replace\n", LoadCode.OVERRIDE),
        ("- rule: R\n  condition: a\n  desc: d\n  override:\n    condition: replace\n", LoadCode.OVERRIDE),
        (
            "- rule: R\n  condition: a\n  append: true\n  override:\n    condition: append\n",
            LoadCode.OVERRIDE,
        ),
    ],
)
def test_bad_appends_and_overrides(user: str, code: LoadCode) -> None:
    assert code in codes(load(rule(), user))


def test_enabled_short_form_and_override_switch_rules() -> None:
    off = load(rule(), "- rule: R\n  enabled: false\n")
    assert off.ok and off.items[0].enabled is False
    assert Engine(off.items).rules == ()
    on = load(rule(enabled="false"), "- rule: R\n  enabled: true\n  override:\n    enabled: replace\n")
    assert on.ok and on.items[0].enabled is True


def test_redefinition_replaces() -> None:
    result = load(rule(), rule(condition="evt.type = execve and proc.name = z"))
    assert result.ok and fires(result, name="z") == ["T-0001"] and fires(result) == []


# -- exceptions -----------------------------------------------------------------------------------


def test_exceptions_tuple_form_single_form_and_appended_values() -> None:
    base = rule(condition="evt.type = execve and proc.name in (a, b, c, d)") + (
        "  exceptions:\n"
        "    - name: name_and_dir\n"
        "      fields: [proc.name, proc.cwd]\n"
        "      comps: [=, startswith]\n"
        "      values:\n"
        "        - [a, /srv]\n"
        "    - name: names\n"
        "      fields: proc.name\n"
        "      values: [b]\n"
        "    - name: listed\n"
        "      fields: [proc.name]\n"
        "      comps: [in]\n"
        "      values:\n"
        "        - [[c, zz]]\n"
    )
    user = """\
        - rule: R
          exceptions:
            - name: names
              values: [d]
          append: true
        """
    result = load(base, user)
    assert result.ok, result.errors
    assert fires(result, name="a", cwd="/srv/app") == []
    assert fires(result, name="a", cwd="/home") == ["T-0001"]
    assert fires(result, name="b") == []
    assert fires(result, name="c") == []
    assert fires(result, name="d") == []


@pytest.mark.parametrize(
    "exceptions",
    [
        "    - name: e\n      fields: [proc.name, proc.pid]\n      values:\n        - [a]\n",
        "    - name: e\n      fields: [proc.name]\n      comps: [=, =]\n      values:\n        - [a]\n",
        "    - name: e\n      fields: [proc.nosuch]\n      values:\n        - [a]\n",
        "    - name: e\n      values:\n        - [a]\n",
        "    - fields: [proc.name]\n",
        "    - name: e\n      fields: proc.name\n      comps: near\n      values: [a]\n",
    ],
)
def test_bad_exceptions_are_errors(exceptions: str) -> None:
    result = load(rule() + "  exceptions:\n" + exceptions)
    assert not result.ok and not result.items


# -- rule keys of our own -------------------------------------------------------------------------


def test_detection_carries_type_severity_artifact_context_and_output() -> None:
    result = load(
        rule(
            severity="9.5",
            artifact="[proc.sha256, proc.exepath]",
            output='"Saw %proc.name in %container.id via %proc.aname[1] (%proc.nosuch_is_not_here"',
        )
    )
    assert codes(result) == [LoadCode.TEMPLATE]
    result = load(
        rule(
            severity="9.5",
            artifact="[proc.sha256, proc.exepath]",
            output='"Saw %proc.name under %proc.aname[1]."',
        )
        + "  context:\n    commandLineExample: '%proc.cmdline'\n    toolCategory: Pentest Tool\n"
        + "    toolName: 'x %proc.sha256'\n"
    )
    assert result.ok, result.errors
    (d,) = Engine(result.items).evaluate(exec_event("x", argv=["x", "-v"], exe_path="/bin/x"))
    assert (d.finding_type, d.rule_id, d.severity, d.artifact) == (MINER, "T-0001", 9.5, "/bin/x")
    assert d.context == {"commandLineExample": "x -v", "toolCategory": "Pentest Tool", "toolName": "x "}
    assert d.description == "Saw x under bash."
    (h,) = Engine(result.items).evaluate(exec_event("x", exe_sha256="ff" * 32))
    assert h.artifact == "ff" * 32


def test_templates_may_apply_a_transformer() -> None:
    result = load(rule(output="'ran %basename(evt.arg.filename) as %toupper(proc.name)'"))
    assert result.ok, result.errors
    (d,) = Engine(result.items).evaluate(exec_event("x", filename="./dir/x"))
    assert d.description == "ran x as X"
    bad = load(rule(output="'%basename(proc.aname)'"))
    assert codes(bad) == [LoadCode.TEMPLATE]


def test_a_context_template_of_one_multi_valued_field_gives_a_list() -> None:
    result = load(rule() + "  context:\n    relatedFilePaths: '%proc.aname'\n    filePath: '%proc.sha256'\n")
    assert result.ok, result.errors
    (d,) = Engine(result.items).evaluate(exec_event("x"))
    assert d.context == {"relatedFilePaths": ["bash"]}


def test_rule_without_finding_type_reports_as_a_custom_type() -> None:
    text = "- rule: Terminal shell in container\n  desc: Detect\n  condition: evt.type = execve\n  priority: WARNING\n"
    result = load(text)
    assert result.ok
    assert sorted(warning_codes(result)) == sorted([LoadCode.NO_FINDING_TYPE, LoadCode.NO_ID])
    (r,) = result.items
    assert (r.finding_type, r.severity, r.rule_id) == ("Custom:Runtime/TerminalShellInContainer", 5.0, r.name)


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"severity": "11"}, LoadCode.SEVERITY),
        ({"finding_type": "Custom:Runtime/MyThing"}, LoadCode.SEVERITY),
        ({"finding_type": "not a type"}, LoadCode.FINDING_TYPE),
        ({"priority": "LOUD"}, LoadCode.YAML_VALIDATE),
        ({"context": "{notAKey: '%proc.name'}"}, LoadCode.CONTEXT),
        ({"context": "{toolName: '%proc.nosuch'}"}, LoadCode.TEMPLATE),
        ({"artifact": "proc.nosuch"}, LoadCode.UNKNOWN_FIELD),
    ],
)
def test_our_keys_are_validated(extra: dict[str, str], code: LoadCode) -> None:
    text = rule()
    if "finding_type" in extra:
        text = text.replace(f"  finding_type: {MINER}\n", "")
    result = load(text + "".join(f"  {k}: {v}\n" for k, v in extra.items()))
    assert code in codes(result) and not result.items


def test_user_finding_type_with_severity_loads() -> None:
    text = rule().replace(MINER, "Custom:Runtime/MyThing") + "  severity: 3\n"
    result = load(text)
    assert result.ok and result.items[0].finding_type == "Custom:Runtime/MyThing"


def test_duplicate_ids_are_errors() -> None:
    result = load(rule("A") + rule("B"))
    assert codes(result) == [LoadCode.DUPLICATE_ID]
    assert [r.name for r in result.items] == ["A"]


def test_skip_if_unknown_filter_turns_the_error_into_a_warning() -> None:
    result = load(
        rule(condition="evt.type = execve and k8s.ns.name = x", **{"skip-if-unknown-filter": "true"})
    )
    assert result.ok and not result.items
    assert warning_codes(result) == [LoadCode.SKIPPED_RULE]


def test_rules_of_other_sources_are_skipped() -> None:
    result = load(rule(source="k8s_audit"))
    assert result.ok and not result.items and warning_codes(result) == [LoadCode.SKIPPED_RULE]


def test_rule_without_event_type_warns_unless_told_not_to() -> None:
    assert warning_codes(load(rule(condition="proc.name = x"))) == [LoadCode.NO_EVTTYPE]
    assert warning_codes(load(rule(condition="proc.name = x", warn_evttypes="false"))) == []


# -- robustness -----------------------------------------------------------------------------------

_scalar_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 20),
    st.floats(allow_nan=True),
    st.sampled_from(["", "a", "proc.name", "evt.type = execve and proc.name = x", "=", "in", "append", "replace",
                     "Impact:Runtime/CryptoMinerExecuted", "%proc.name", "(", "not", "x.y"]),
)  # fmt: skip
_values = st.recursive(
    _scalar_values,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _values, min_size=1, max_size=6), max_size=5))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_document_loads_or_reports_without_raising(items: list[dict[str, object]]) -> None:
    text = yaml.safe_dump(items)
    result = load_rule_texts([("fuzz.yaml", text)])
    assert all(e.location.path == "fuzz.yaml" for e in result.errors)
    assert all(w.location.path == "fuzz.yaml" for w in result.warnings)
    Engine(result.items).evaluate(exec_event("x"))
