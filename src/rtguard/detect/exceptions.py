"""Rule exceptions (Falco's ``exceptions:``) turned into condition trees.

Each exception with values becomes ``(f1 c1 v1 and f2 c2 v2) or ...`` over its value rows; the
compiler adds ``and not (...)`` of them all to the rule's condition. The single-field form
(``fields: proc.name``, ``comps`` default ``in``, a flat ``values`` list) becomes one check.
Problems are reported through the ``report`` callback. This module must not compile or
evaluate anything and must not do I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rtguard.detect.collector import ExceptionDef, RuleDef
from rtguard.detect.condition.ast import (
    LIST_OPERATORS,
    And,
    Check,
    Expr,
    FieldRef,
    ListLit,
    Or,
    Origin,
    Pos,
    Scalar,
)
from rtguard.detect.condition.parser import ParseError, parse_field_ref
from rtguard.detect.operators import OPERATORS, Arity
from rtguard.detect.result import LoadCode

Report = Callable[[LoadCode, str, Pos], None]


def exception_exprs(rule: RuleDef, report: Report) -> list[Expr] | None:
    """One expression per exception that has values; ``None`` after reporting an error."""
    out: list[Expr] = []
    ok = True
    for exc in rule.exceptions:
        if not exc.values:
            continue
        built = _exception(exc, report)
        if built is None:
            ok = False
        else:
            out.append(built)
    return out if ok else None


def _exception(exc: ExceptionDef, report: Report) -> Expr | None:
    if exc.fields is None:
        report(LoadCode.EXCEPTION, f"exception '{exc.name}' has values but no fields", exc.pos)
        return None
    if isinstance(exc.fields, str):
        return _single_field(exc, exc.fields, report)
    names = exc.fields
    comps = exc.comps if isinstance(exc.comps, list) else [exc.comps or "="] * len(names)
    if len(comps) != len(names) or any(c not in OPERATORS for c in comps):
        report(LoadCode.EXCEPTION, f"exception '{exc.name}': 'comps' must match 'fields'", exc.pos)
        return None
    refs = [
        _field(n, exc.field_pos[i] if i < len(exc.field_pos) else exc.pos, report)
        for i, n in enumerate(names)
    ]
    if any(r is None for r in refs):
        return None
    rows: list[Expr] = []
    for i, row in enumerate(exc.values):
        pos = exc.value_pos[i] if i < len(exc.value_pos) else exc.pos
        if not isinstance(row, list) or len(row) != len(names):
            report(LoadCode.EXCEPTION, f"exception '{exc.name}': each value row has {len(names)} items", pos)
            return None
        checks: list[Expr] = []
        for ref, comp, value in zip(refs, comps, row, strict=True):
            assert ref is not None
            checks.append(Check(ref, comp, _operand(comp, value, pos), pos))
        rows.append(checks[0] if len(checks) == 1 else And(tuple(checks), pos))
    return rows[0] if len(rows) == 1 else Or(tuple(rows), exc.pos)


def _single_field(exc: ExceptionDef, name: str, report: Report) -> Expr | None:
    comp = exc.comps if isinstance(exc.comps, str) else "in"
    if comp not in OPERATORS:
        report(LoadCode.EXCEPTION, f"exception '{exc.name}': unknown comparison '{comp}'", exc.pos)
        return None
    ref = _field(name, exc.field_pos[0] if exc.field_pos else exc.pos, report)
    if ref is None:
        return None
    if comp in LIST_OPERATORS:
        items = tuple(Scalar(str(v), False, exc.pos) for v in _flatten(exc.values))
        return Check(ref, comp, ListLit(items, exc.pos), exc.pos)
    checks: list[Expr] = [Check(ref, comp, Scalar(str(v), False, exc.pos), exc.pos) for v in exc.values]
    return checks[0] if len(checks) == 1 else Or(tuple(checks), exc.pos)


def _field(name: str, pos: Pos, report: Report) -> FieldRef | None:
    try:
        return parse_field_ref(name, Origin.of_text(name, pos.path, pos.line, pos.column))
    except ParseError as exc:
        report(LoadCode.EXCEPTION, exc.message, exc.pos)
        return None


def _flatten(values: Sequence[object]) -> list[object]:
    out: list[object] = []
    for v in values:
        out += _flatten(v) if isinstance(v, list) else [v]
    return out


def _operand(comp: str, value: object, pos: Pos) -> Scalar | ListLit | None:
    if OPERATORS[comp].arity is Arity.UNARY:
        return None
    if comp in LIST_OPERATORS:
        items = value if isinstance(value, list) else [value]
        return ListLit(tuple(Scalar(str(v), False, pos) for v in _flatten(items)), pos)
    return Scalar(str(value), False, pos)
