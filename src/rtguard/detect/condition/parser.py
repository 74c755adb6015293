"""A recursive-descent parser for Falco's condition language (libsinsp filter grammar).

Turns condition text into the tree of ``rtguard.detect.condition.ast``; every failure is a
``ParseError`` with the file, line and column of the offending character, and no other
exception escapes for any input string (Hypothesis checks this). Grammar, precedence low to
high: ``or``, ``and``, ``not``, then a check (``field op value``), a macro name or a
parenthesised expression. The parser must not resolve macros, lists or field names, and must
not do I/O.
"""

from __future__ import annotations

import re
from typing import Final

from rtguard.detect.condition.ast import (
    KEYWORDS,
    LIST_OPERATORS,
    SCALAR_OPERATORS,
    TRANSFORMERS,
    UNARY_OPERATORS,
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
)

MAX_DEPTH: Final = 100

_BLANK_RE: Final = re.compile(r"\s*")
_IDENT_RE: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")
_FIELD_RE: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z][a-zA-Z0-9_]*)+")
_CALL_RE: Final = re.compile(r"([a-zA-Z][a-zA-Z0-9_]*)\(")
_ARG_BARE_RE: Final = re.compile(r"[^\s\[\]\"']+")
_BARE_RE: Final = re.compile(r"[^\s(),=\"']+")
_QUOTED_RE: Final = {q: re.compile(q + r"(?:\\.|[^" + q + r"\\])*" + q, re.DOTALL) for q in "\"'"}
_WORD_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")

# Longest symbol first so that "<=" is not read as "<".
_SYMBOL_OPS: Final = tuple(sorted((o for o in SCALAR_OPERATORS if not o.isalpha()), key=len, reverse=True))
_WORD_OPS: Final = frozenset(o for o in UNARY_OPERATORS + SCALAR_OPERATORS + LIST_OPERATORS if o.isalpha())
_UNESCAPE: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "\\": "\\", "/": "/"}


class ParseError(Exception):
    """A condition that does not parse; ``pos`` is where, ``offset`` the index in the text."""

    def __init__(self, message: str, pos: Pos, offset: int) -> None:
        super().__init__(f"{pos.path}:{pos.line}:{pos.column}: {message}")
        self.message = message
        self.pos = pos
        self.offset = offset


def parse_condition(text: str, origin: Origin | None = None) -> Expr:
    """Parse one condition.

    Args:
        text: the condition, e.g. ``evt.type = process_exec and proc.name in (xmrig)``.
        origin: where ``text`` sits in its file; positions default to line 1 of ``<condition>``.

    Returns:
        The expression tree; ``And``/``Or`` chains are flat, parentheses nest them.

    Raises:
        ParseError: for any text that is not a condition.
    """
    return _Parser(text, origin or Origin.of_text(text)).parse()


def parse_field_ref(text: str, origin: Origin | None = None) -> FieldRef:
    """Parse a lone field reference such as ``proc.aname[2]`` (exception ``fields``, templates).

    Raises:
        ParseError: ``text`` is not exactly one field name with an optional argument.
    """
    parser = _Parser(text, origin or Origin.of_text(text))
    m = parser._match(_FIELD_RE)
    if m is None:
        raise parser._fail(f"{text!r} is not a field name")
    ref = parser._field_rest(m.group(0), 0)
    if parser._i != len(text):
        raise parser._fail(f"unexpected {parser._snippet()} after the field name")
    return ref


class _Parser:
    __slots__ = ("_depth", "_i", "_origin", "_text")

    def __init__(self, text: str, origin: Origin) -> None:
        self._text = text
        self._origin = origin
        self._i = 0
        self._depth = 0

    # -- helpers -------------------------------------------------------------------------------

    def _pos(self, offset: int | None = None) -> Pos:
        return self._origin.at(self._i if offset is None else offset)

    def _fail(self, message: str, offset: int | None = None) -> ParseError:
        at = self._i if offset is None else offset
        return ParseError(message, self._origin.at(at), at)

    def _blank(self) -> None:
        m = _BLANK_RE.match(self._text, self._i)
        assert m is not None
        self._i = m.end()

    def _match(self, regex: re.Pattern[str]) -> re.Match[str] | None:
        m = regex.match(self._text, self._i)
        if m is not None:
            self._i = m.end()
        return m

    def _peek(self, s: str) -> bool:
        return self._text.startswith(s, self._i)

    def _word_at(self, word: str) -> bool:
        """``word`` starts here and is not the prefix of a longer name."""
        if not self._text.startswith(word, self._i):
            return False
        end = self._i + len(word)
        return end == len(self._text) or self._text[end] not in _WORD_CHARS

    def _snippet(self) -> str:
        rest = self._text[self._i : self._i + 20]
        return repr(rest) if rest else "end of condition"

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._fail(f"condition nested deeper than {MAX_DEPTH} levels")

    # -- expressions ---------------------------------------------------------------------------

    def parse(self) -> Expr:
        self._blank()
        if self._i == len(self._text):
            raise self._fail("empty condition")
        expr = self._or()
        self._blank()
        if self._i != len(self._text):
            raise self._fail(f"unexpected {self._snippet()}; expected 'and', 'or' or the end")
        return expr

    def _or(self) -> Expr:
        self._enter()
        start = self._i
        children = [self._and()]
        while self._keyword("or"):
            children.append(self._and())
        self._depth -= 1
        return children[0] if len(children) == 1 else Or(tuple(children), self._pos(start))

    def _and(self) -> Expr:
        start = self._i
        children = [self._not()]
        while self._keyword("and"):
            children.append(self._not())
        return children[0] if len(children) == 1 else And(tuple(children), self._pos(start))

    def _keyword(self, word: str) -> bool:
        save = self._i
        self._blank()
        if self._word_at(word):
            self._i += len(word)
            return True
        self._i = save
        return False

    def _not(self) -> Expr:
        self._blank()
        start = self._i
        if self._word_at("not"):
            self._i += 3
            self._enter()
            child = self._not()
            self._depth -= 1
            return Not(child, self._pos(start))
        return self._check()

    def _check(self) -> Expr:
        self._blank()
        start = self._i
        if self._peek("("):
            self._i += 1
            expr = self._or()
            self._blank()
            if not self._peek(")"):
                raise self._fail(f"expected ')' to close the '(' at column {self._pos(start).column}")
            self._i += 1
            return expr
        call = _CALL_RE.match(self._text, self._i)
        if call is not None:
            lhs = self._transform_or_val(allow_val=False)
            return self._condition(lhs, start)
        field_m = self._match(_FIELD_RE)
        if field_m is not None:
            lhs = self._field_rest(field_m.group(0), start)
            return self._condition(lhs, start)
        ident = self._match(_IDENT_RE)
        if ident is not None:
            name = ident.group(0)
            if name in KEYWORDS:
                raise self._fail(f"unexpected keyword '{name}'", start)
            return MacroRef(name, self._pos(start))
        raise self._fail(f"expected a field, a macro name, 'not' or '(' but found {self._snippet()}")

    # -- fields and transformers ---------------------------------------------------------------

    def _field_rest(self, name: str, start: int) -> FieldRef:
        if not self._peek("["):
            return FieldRef(name, None, self._pos(start))
        self._i += 1
        arg_start = self._i
        if self._text[self._i : self._i + 1] in ('"', "'"):
            arg = self._quoted()
        else:
            m = self._match(_ARG_BARE_RE)
            if m is None:
                raise self._fail(f"expected an argument in '{name}[...]'", arg_start)
            arg = m.group(0)
        if not self._peek("]"):
            raise self._fail(f"expected ']' after the argument of '{name}'")
        self._i += 1
        return FieldRef(name, arg, self._pos(start))

    def _transform_or_val(self, *, allow_val: bool) -> FieldExpr:
        """``name(`` is next: a transformer (or ``val``); returns the field expression."""
        start = self._i
        call = self._match(_CALL_RE)
        assert call is not None
        name = call.group(1)
        if name == "val" and not allow_val:
            raise self._fail("val() names a field on the right-hand side of a comparison only", start)
        if name != "val" and name not in TRANSFORMERS:
            known = ", ".join((*TRANSFORMERS, "val"))
            raise self._fail(f"unknown transformer '{name}()'; known: {known}", start)
        self._enter()
        self._blank()
        inner_start = self._i
        operand: FieldExpr
        if _CALL_RE.match(self._text, self._i) is not None:
            if name == "val":
                raise self._fail("val() takes a field, not a transformer", inner_start)
            operand = self._transform_or_val(allow_val=False)
        else:
            m = self._match(_FIELD_RE)
            if m is None:
                raise self._fail(f"expected a field inside '{name}(...)'", inner_start)
            operand = self._field_rest(m.group(0), inner_start)
        self._blank()
        if not self._peek(")"):
            raise self._fail(f"expected ')' to close '{name}('")
        self._i += 1
        self._depth -= 1
        return operand if name == "val" else Transform(name, operand, self._pos(start))

    # -- conditions ----------------------------------------------------------------------------

    def _operator(self) -> str | None:
        for op in _SYMBOL_OPS:
            if self._peek(op):
                self._i += len(op)
                return op
        m = _IDENT_RE.match(self._text, self._i)
        if m is not None and m.group(0) in _WORD_OPS and self._word_at(m.group(0)):
            self._i = m.end()
            return m.group(0)
        return None

    def _condition(self, lhs: FieldExpr, start: int) -> Check:
        self._blank()
        op = self._operator()
        if op is None:
            shown = lhs.name if isinstance(lhs, FieldRef) else "the transformer"
            raise self._fail(f"expected an operator after '{shown}' but found {self._snippet()}")
        if op in UNARY_OPERATORS:
            return Check(lhs, op, None, self._pos(start))
        self._blank()
        rhs: Operand
        if _CALL_RE.match(self._text, self._i) is not None:
            at = self._i
            rhs = FieldOperand(self._transform_or_val(allow_val=True), self._pos(at))
        elif op in LIST_OPERATORS:
            rhs = self._list_value(op)
        else:
            rhs = self._scalar(f"a value after '{op}'")
        return Check(lhs, op, rhs, self._pos(start))

    def _list_value(self, op: str) -> ListLit | ListRef:
        start = self._i
        if not self._peek("("):
            m = self._match(_IDENT_RE)
            if m is None:
                raise self._fail(f"expected '(' or a list name after '{op}' but found {self._snippet()}")
            return ListRef(m.group(0), self._pos(start))
        self._i += 1
        items: list[Scalar] = []
        self._blank()
        if self._peek(")"):
            self._i += 1
            return ListLit((), self._pos(start))
        while True:
            self._blank()
            items.append(self._scalar("a list item"))
            self._blank()
            if self._peek(","):
                self._i += 1
                continue
            if self._peek(")"):
                self._i += 1
                return ListLit(tuple(items), self._pos(start))
            raise self._fail(f"expected ',' or ')' in the list but found {self._snippet()}")

    def _scalar(self, what: str) -> Scalar:
        start = self._i
        if self._text[self._i : self._i + 1] in ('"', "'"):
            return Scalar(self._quoted(), True, self._pos(start))
        m = self._match(_BARE_RE)
        if m is None:
            raise self._fail(f"expected {what} but found {self._snippet()}")
        return Scalar(m.group(0), False, self._pos(start))

    def _quoted(self) -> str:
        start = self._i
        quote = self._text[start]
        m = self._match(_QUOTED_RE[quote])
        if m is None:
            raise self._fail("unterminated string", start)
        return self._unescape(m.group(0), start)

    def _unescape(self, raw: str, start: int) -> str:
        quote = raw[0]
        out: list[str] = []
        i = 1
        while i < len(raw) - 1:
            ch = raw[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            esc = raw[i + 1]
            if esc == quote:
                out.append(esc)
            elif esc in _UNESCAPE:
                out.append(_UNESCAPE[esc])
            else:
                raise self._fail(f"unsupported escape sequence '\\{esc}' in a string", start + i)
            i += 2
        return "".join(out)
