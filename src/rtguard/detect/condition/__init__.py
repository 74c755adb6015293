"""Falco's condition language: the syntax tree, its canonical text and the parser.

Syntax only: no field catalogue, no operator semantics, no I/O (those live in
``rtguard.detect.fields``, ``rtguard.detect.operators`` and ``rtguard.detect.compiler``).
"""

from rtguard.detect.condition.ast import (
    And,
    Check,
    Expr,
    FieldExpr,
    FieldOperand,
    FieldRef,
    ListLit,
    ListRef,
    MacroRef,
    Not,
    Operand,
    Or,
    Origin,
    Pos,
    Scalar,
    Transform,
    render,
)
from rtguard.detect.condition.parser import ParseError, parse_condition, parse_field_ref

__all__ = [
    "And",
    "Check",
    "Expr",
    "FieldExpr",
    "FieldOperand",
    "FieldRef",
    "ListLit",
    "ListRef",
    "MacroRef",
    "Not",
    "Operand",
    "Or",
    "Origin",
    "ParseError",
    "Pos",
    "Scalar",
    "Transform",
    "parse_condition",
    "parse_field_ref",
    "render",
]
