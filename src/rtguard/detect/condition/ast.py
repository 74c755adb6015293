"""The syntax tree of Falco's condition language, and the canonical text of a tree.

Pure data: frozen dataclasses for expressions (``And``, ``Or``, ``Not``, ``MacroRef``, ``Check``)
and operands, a ``Pos`` on every node (file, line, column: ignored by equality so that trees from
different texts compare by meaning), the grammar-level operator and transformer names, and
``render`` which prints a tree so that parsing the text gives the same tree back. This module
must not know field names, field types or what an operator does (that is the compiler's job),
and must not do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

# Operator classes of the grammar (libsinsp's filter parser): what follows the operator.
UNARY_OPERATORS: Final = ("exists",)
SCALAR_OPERATORS: Final = (
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "glob",
    "iglob",
    "regex",
)
LIST_OPERATORS: Final = ("in", "intersects", "pmatch")
ALL_OPERATORS: Final = UNARY_OPERATORS + SCALAR_OPERATORS + LIST_OPERATORS

# Field transformers: ``tolower(proc.name)``; ``val(field)`` only names a field on the right.
TRANSFORMERS: Final = ("tolower", "toupper", "b64", "basename", "len")
KEYWORDS: Final = frozenset({"and", "or", "not"})

_BARE_RE: Final = re.compile(r"[^\s(),=\"']+")
_ARG_BARE_RE: Final = re.compile(r"[^\s\[\]\"']+")


@dataclass(frozen=True, slots=True)
class Pos:
    """A 1-based line and column in a named file (``path``)."""

    path: str
    line: int
    column: int


class Origin:
    """Where each character of a condition text sits in its source file.

    A condition may come from a YAML scalar (folded, quoted, block) or be the concatenation of
    fragments from several files (``append``), so positions are kept per character.
    """

    __slots__ = ("_end", "_positions")

    def __init__(self, positions: Sequence[Pos], end: Pos) -> None:
        self._positions = tuple(positions)
        self._end = end

    @classmethod
    def of_text(cls, text: str, path: str = "<condition>", line: int = 1, column: int = 1) -> Origin:
        """Positions of ``text`` read as-is, starting at ``line``:``column`` of ``path``."""
        positions: list[Pos] = []
        for ch in text:
            positions.append(Pos(path, line, column))
            if ch == "\n":
                line, column = line + 1, 1
            else:
                column += 1
        return cls(positions, Pos(path, line, column))

    def at(self, offset: int) -> Pos:
        """The position of the character at ``offset`` (the end position past the text)."""
        if 0 <= offset < len(self._positions):
            return self._positions[offset]
        return self._end

    def joined(self, other: Origin) -> Origin:
        """The origin of ``self``'s text, one space, then ``other``'s text (Falco's append)."""
        return Origin((*self._positions, self._end, *other._positions), other._end)


_NOWHERE: Final = Pos("<condition>", 0, 0)


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field, with its optional argument: ``proc.aname[2]``, ``proc.env[LD_PRELOAD]``."""

    name: str
    arg: str | None = None
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Transform:
    """A field transformer applied to a field or another transformer: ``tolower(proc.name)``."""

    name: str
    operand: FieldExpr
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


FieldExpr = FieldRef | Transform


@dataclass(frozen=True, slots=True)
class Scalar:
    """One value as written: bare (``bash``) or quoted (``"a b"``, text already unescaped)."""

    text: str
    quoted: bool = False
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListLit:
    """A parenthesised list of values: ``(bash, sh, "a b")``; bare items may name lists."""

    items: tuple[Scalar, ...]
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListRef:
    """A list named without parentheses: ``proc.name in shell_binaries``."""

    name: str
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class FieldOperand:
    """A field on the right-hand side: ``val(proc.pname)`` or a transformer."""

    expr: FieldExpr
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


Operand = Scalar | ListLit | ListRef | FieldOperand


@dataclass(frozen=True, slots=True)
class Check:
    """``lhs op rhs``; ``rhs`` is ``None`` for unary operators (``exists``)."""

    lhs: FieldExpr
    op: str
    rhs: Operand | None = None
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class MacroRef:
    """A macro used by name in a condition."""

    name: str
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    """Logical negation."""

    child: Expr
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    """Conjunction of two or more expressions, in source order."""

    children: tuple[Expr, ...]
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    """Disjunction of two or more expressions, in source order."""

    children: tuple[Expr, ...]
    pos: Pos = field(default=_NOWHERE, compare=False, repr=False)


Expr = And | Or | Not | MacroRef | Check


def render(expr: Expr) -> str:
    """The canonical text of ``expr``: ``parse_condition(render(e)) == e`` for every tree."""
    match expr:
        case And(children=children):
            return " and ".join(_grouped(c) for c in children)
        case Or(children=children):
            return " or ".join(_grouped(c) for c in children)
        case Not(child=child):
            inner = render(child)
            return f"not ({inner})" if isinstance(child, And | Or) else f"not {inner}"
        case MacroRef(name=name):
            return name
        case Check(lhs=lhs, op=op, rhs=rhs):
            text = f"{render_field(lhs)} {op}"
            return text if rhs is None else f"{text} {render_operand(rhs)}"


def _grouped(child: Expr) -> str:
    # NOTE: a nested And/Or was written in parentheses (chains are flattened by the parser),
    # so it is printed in parentheses to round-trip.
    text = render(child)
    return f"({text})" if isinstance(child, And | Or) else text


def render_field(expr: FieldExpr) -> str:
    """The text of a field or transformer: ``proc.aname[2]``, ``tolower(proc.name)``."""
    match expr:
        case FieldRef(name=name, arg=None):
            return name
        case FieldRef(name=name, arg=arg):
            assert arg is not None
            shown = arg if _ARG_BARE_RE.fullmatch(arg) else quote(arg)
            return f"{name}[{shown}]"
        case Transform(name=name, operand=operand):
            return f"{name}({render_field(operand)})"


def render_operand(operand: Operand) -> str:
    """The text of a right-hand side: a value, a list, a list name or a field."""
    match operand:
        case Scalar():
            return render_scalar(operand)
        case ListLit(items=items):
            return "(" + ", ".join(render_scalar(i) for i in items) + ")"
        case ListRef(name=name):
            return name
        case FieldOperand(expr=FieldRef() as ref):
            return f"val({render_field(ref)})"
        case FieldOperand(expr=expr):
            return render_field(expr)


def render_scalar(value: Scalar) -> str:
    """A bare value stays bare when it can; anything else is double-quoted and escaped."""
    if not value.quoted and _BARE_RE.fullmatch(value.text):
        return value.text
    return quote(value.text)


_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(text: str) -> str:
    """``text`` in double quotes with Falco's escapes (``\\\\ \\" \\b \\f \\n \\r \\t``)."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'
