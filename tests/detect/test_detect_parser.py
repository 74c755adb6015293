"""The condition parser: grammar, precedence, values, positions of errors, and properties."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtguard.detect.condition import (
    And,
    Check,
    Expr,
    FieldOperand,
    FieldRef,
    ListLit,
    ListRef,
    MacroRef,
    Not,
    Or,
    Origin,
    ParseError,
    Scalar,
    Transform,
    parse_condition,
    parse_field_ref,
    render,
)
from rtguard.detect.condition.ast import KEYWORDS, LIST_OPERATORS, SCALAR_OPERATORS, TRANSFORMERS
from rtguard.detect.condition.parser import MAX_DEPTH


def check(field: str, op: str, value: str | None = None, arg: str | None = None) -> Check:
    return Check(FieldRef(field, arg), op, None if value is None else Scalar(value))


# -- grammar ------------------------------------------------------------------------------------


def test_precedence_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    tree = parse_condition("not a and b or c")
    assert tree == Or((And((Not(MacroRef("a")), MacroRef("b"))), MacroRef("c")))


def test_chains_are_flat_and_parentheses_nest() -> None:
    assert parse_condition("a and b and c") == And((MacroRef("a"), MacroRef("b"), MacroRef("c")))
    assert parse_condition("a and (b and c)") == And((MacroRef("a"), And((MacroRef("b"), MacroRef("c")))))


def test_not_and_and_accept_a_parenthesis_without_space() -> None:
    assert parse_condition("not(a)and(b)") == And((Not(MacroRef("a")), MacroRef("b")))


def test_comparisons_with_bare_and_quoted_values() -> None:
    assert parse_condition("proc.name=bash") == check("proc.name", "=", "bash")
    assert parse_condition("proc.pid <= 10") == check("proc.pid", "<=", "10")
    tree = parse_condition("proc.cmdline contains 'a b'")
    assert tree == Check(FieldRef("proc.cmdline"), "contains", Scalar("a b", quoted=True))


def test_longest_symbol_operator_wins() -> None:
    assert parse_condition("proc.pid>=1") == check("proc.pid", ">=", "1")
    assert parse_condition("proc.name!=x") == check("proc.name", "!=", "x")
    assert parse_condition("proc.name==x") == check("proc.name", "==", "x")


def test_word_operators_need_a_word_boundary() -> None:
    with pytest.raises(ParseError):
        parse_condition("proc.name inx (a)")
    assert parse_condition("proc.name in(a,b)") == Check(
        FieldRef("proc.name"), "in", ListLit((Scalar("a"), Scalar("b")))
    )


def test_lists_literal_named_and_empty() -> None:
    tree = parse_condition('proc.name in (bash, "a b" , sh)')
    assert tree == Check(
        FieldRef("proc.name"), "in", ListLit((Scalar("bash"), Scalar("a b", True), Scalar("sh")))
    )
    assert parse_condition("proc.name in shells") == Check(FieldRef("proc.name"), "in", ListRef("shells"))
    assert parse_condition("proc.name in ()") == Check(FieldRef("proc.name"), "in", ListLit(()))


def test_field_arguments_bare_and_quoted() -> None:
    assert parse_condition("proc.aname[2] = bash") == check("proc.aname", "=", "bash", arg="2")
    assert parse_condition("proc.env['LD_PRELOAD'] exists") == check("proc.env", "exists", arg="LD_PRELOAD")


def test_exists_takes_no_value() -> None:
    assert parse_condition("proc.sha256 exists and a") == And((check("proc.sha256", "exists"), MacroRef("a")))


def test_transformers_on_the_left_and_fields_on_the_right() -> None:
    tree = parse_condition("tolower(proc.name) = val(proc.pname)")
    assert tree == Check(
        Transform("tolower", FieldRef("proc.name")), "=", FieldOperand(FieldRef("proc.pname"))
    )
    nested = parse_condition("len(basename(proc.exepath)) > 3")
    assert nested == Check(
        Transform("len", Transform("basename", FieldRef("proc.exepath"))), ">", Scalar("3")
    )


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r"'a\'b'", "a'b"),
        (r'"tab\there"', "tab\there"),
        (r'"back\\slash"', "back\\slash"),
        (r'"new\nline"', "new\nline"),
        (r'"sl\/ash"', "sl/ash"),
        ("'single \" inside'", 'single " inside'),
    ],
)
def test_quoted_string_escapes(raw: str, value: str) -> None:
    tree = parse_condition(f"proc.cmdline contains {raw}")
    assert isinstance(tree, Check) and tree.rhs == Scalar(value, True)


def test_parse_field_ref() -> None:
    assert parse_field_ref("proc.aname[3]") == FieldRef("proc.aname", "3")
    with pytest.raises(ParseError):
        parse_field_ref("proc.name and")


# -- errors and positions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("", 1, "empty condition"),
        ("proc.name =", 12, "expected a value"),
        ("proc.name bogus x", 11, "expected an operator"),
        ("(a and b", 9, "expected ')'"),
        ("a b", 3, "unexpected"),
        ("proc.name in (a b)", 17, "expected ',' or ')'"),
        ('proc.name = "open', 13, "unterminated string"),
        (r'proc.name = "a\qb"', 15, "unsupported escape"),
        (r'proc.name = "a\'b"', 15, "unsupported escape"),
        ("val(proc.name) = x", 1, "right-hand side"),
        ("frob(proc.name) = x", 1, "unknown transformer"),
        ("and", 1, "unexpected keyword"),
        ("proc.aname[] = x", 12, "expected an argument"),
        ("proc.name in 'x'", 14, "expected '(' or a list name"),
    ],
)
def test_errors_carry_line_and_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_condition(text)
    assert fragment in info.value.message
    assert (info.value.pos.line, info.value.pos.column) == (1, column)


def test_error_positions_follow_the_origin() -> None:
    text = "evt.type = execve\nand proc.name in (a,\n  b c)"
    with pytest.raises(ParseError) as info:
        parse_condition(text, Origin.of_text(text, "rules.yaml", line=10, column=5))
    assert info.value.pos.path == "rules.yaml"
    assert (info.value.pos.line, info.value.pos.column) == (12, 5)


def test_node_positions_are_recorded() -> None:
    tree = parse_condition("a and\n  proc.name = x")
    assert isinstance(tree, And)
    second = tree.children[1]
    assert (second.pos.line, second.pos.column) == (2, 3)


def test_nesting_is_capped_without_recursion_error() -> None:
    deep = "(" * (MAX_DEPTH + 5) + "a" + ")" * (MAX_DEPTH + 5)
    with pytest.raises(ParseError, match="nested deeper"):
        parse_condition(deep)
    with pytest.raises(ParseError, match="nested deeper"):
        parse_condition("not " * (MAX_DEPTH + 5) + "a")
    ok = "(" * 50 + "a" + ")" * 50
    assert parse_condition(ok) == MacroRef("a")


# -- properties -----------------------------------------------------------------------------------

_ident = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(lambda s: s not in KEYWORDS)
_field_name = st.builds(lambda a, b: f"{a}.{b}", _ident, _ident)
_bare = st.from_regex(r"[^\s(),=\"']{1,10}", fullmatch=True)
_text = st.text(max_size=12)
_scalar = st.one_of(st.builds(Scalar, _bare, st.just(False)), st.builds(Scalar, _text, st.just(True)))
_arg = st.one_of(st.none(), st.from_regex(r"[^\s\[\]\"']{1,6}", fullmatch=True), _text)
_field_ref = st.builds(FieldRef, _field_name, _arg)
_field_expr = st.recursive(
    _field_ref, lambda inner: st.builds(Transform, st.sampled_from(TRANSFORMERS), inner), max_leaves=3
)
_rhs_field = st.builds(FieldOperand, _field_expr)
_scalar_check = st.builds(
    Check, _field_expr, st.sampled_from(SCALAR_OPERATORS), st.one_of(_scalar, _rhs_field)
)
_list_check = st.builds(
    Check,
    _field_expr,
    st.sampled_from(LIST_OPERATORS),
    st.one_of(
        st.builds(ListLit, st.lists(_scalar, max_size=4).map(tuple)), st.builds(ListRef, _ident), _rhs_field
    ),
)
_leaf = st.one_of(
    st.builds(MacroRef, _ident), st.builds(Check, _field_expr, st.just("exists")), _scalar_check, _list_check
)


def _trees(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    many = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(st.builds(And, many), st.builds(Or, many), st.builds(Not, children))


_expr = st.recursive(_leaf, _trees, max_leaves=12)


@given(_expr)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_render_then_parse_gives_the_same_tree(tree: Expr) -> None:
    assert parse_condition(render(tree)) == tree


@given(st.text(max_size=80))
@settings(max_examples=600)
def test_arbitrary_text_parses_or_raises_parse_error(text: str) -> None:
    try:
        tree = parse_condition(text)
    except ParseError as exc:
        assert exc.pos.line >= 1 and exc.pos.column >= 1
        assert 0 <= exc.offset <= len(text)
    else:
        assert parse_condition(render(tree)) == tree


_alphabet = st.sampled_from(
    [
        "a",
        "b",
        "proc.name",
        "(",
        ")",
        " and ",
        " or ",
        "not ",
        "=",
        " in ",
        ",",
        '"',
        "'",
        "\\",
        "[1]",
        "val(",
        "tolower(",
        " exists",
        "x.y",
        " contains ",
    ]
)


@given(st.lists(_alphabet, max_size=25).map("".join))
@settings(max_examples=800)
def test_token_soup_parses_or_raises_parse_error(text: str) -> None:
    try:
        tree = parse_condition(text)
    except ParseError:
        return
    assert parse_condition(render(tree)) == tree
