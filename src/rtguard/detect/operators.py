"""Comparison operators and field transformers: the dispatch tables the compiler uses.

``OPERATORS`` maps each operator of the condition language to an ``Operator``: which field
types it accepts and how to build, once, a predicate over one extracted value from the typed
constants on its right (``build``), or over two extracted values when the right-hand side is a
field (``dynamic``). ``convert_value`` types a constant for a field type. ``TRANSFORMERS``
maps ``tolower``, ``toupper``, ``b64``, ``basename`` and ``len``. Predicates receive a value that
is never ``None`` (the compiler handles missing values). This module must not know field
names, the syntax tree or rules, and must not do I/O.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import ipaddress
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from rtguard.detect.condition.ast import LIST_OPERATORS, SCALAR_OPERATORS, UNARY_OPERATORS
from rtguard.detect.fields import EVTTYPE_ALIASES, FieldType
from rtguard.model.events import EventKind

Value = str | int | bool | EventKind | ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Constant = Value | Network
Predicate = Callable[[Any], bool]
Builder = Callable[[Sequence[Constant]], Predicate]


class Arity(StrEnum):
    """What an operator takes on its right: nothing, one value or a list."""

    UNARY = "unary"
    SCALAR = "scalar"
    LIST = "list"


@dataclass(frozen=True, slots=True)
class Operator:
    """One operator: the field types it accepts and how to compile it."""

    name: str
    arity: Arity
    types: frozenset[FieldType]
    build: Builder | None
    dynamic: Callable[[object, object], bool] | None = None


class BadValueError(Exception):
    """A constant that is not valid for the field's type (message says why)."""


_STR: Final = frozenset({FieldType.STRING})
_EQ_TYPES: Final = frozenset(FieldType)
_NUM: Final = frozenset({FieldType.INT})


# -- typing constants ---------------------------------------------------------------------------


def _to_int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(text)
        except ValueError:
            raise BadValueError(f"{text!r} is not a number") from None


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise BadValueError(f"{text!r} is not true or false")


def _to_ip(text: str) -> Constant:
    try:
        if "/" in text:
            return ipaddress.ip_network(text, strict=False)
        return ipaddress.ip_address(text)
    except ValueError:
        raise BadValueError(f"{text!r} is not an IP address or network") from None


def convert_value(ftype: FieldType, text: str) -> tuple[Constant, ...]:
    """The typed constants for one written value (a Falco syscall name may give two kinds).

    Raises:
        BadValueError: the text is not a valid value of ``ftype``.
    """
    match ftype:
        case FieldType.STRING:
            return (text,)
        case FieldType.INT:
            return (_to_int(text),)
        case FieldType.BOOL:
            return (_to_bool(text),)
        case FieldType.IP:
            return (_to_ip(text),)
        case FieldType.EVTTYPE:
            return tuple(sorted(EVTTYPE_ALIASES.get(text, frozenset())))


# -- predicates ---------------------------------------------------------------------------------


_NETWORKS: Final = (ipaddress.IPv4Network, ipaddress.IPv6Network)
_ADDRESSES: Final = (ipaddress.IPv4Address, ipaddress.IPv6Address)


def _as_ip(v: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(v))
    except ValueError:
        return None


def _membership(consts: Sequence[Constant]) -> Predicate:
    nets = tuple(c for c in consts if isinstance(c, _NETWORKS))
    # NOTE: event IPs are text in canonical (compressed) form, so addresses compare as text.
    plain = frozenset(
        str(c) if isinstance(c, _ADDRESSES) else c for c in consts if not isinstance(c, _NETWORKS)
    )
    if not nets:
        if len(plain) == 1:
            (only,) = plain
            return lambda v: v == only
        return lambda v: v in plain

    def pred(v: Any) -> bool:
        if v in plain:
            return True
        ip = _as_ip(v)
        return ip is not None and any(ip in n for n in nets)

    return pred


def _not(pred: Predicate) -> Predicate:
    return lambda v: not pred(v)


def _num(cmp: Callable[[int, int], bool]) -> Builder:
    def build(consts: Sequence[Constant]) -> Predicate:
        (c,) = consts
        assert isinstance(c, int)
        return lambda v: cmp(v, c)

    return build


def _strs(consts: Sequence[Constant]) -> tuple[str, ...]:
    return tuple(str(c) for c in consts)


def _contains(consts: Sequence[Constant]) -> Predicate:
    (c,) = _strs(consts)
    return lambda v: c in v


def _icontains(consts: Sequence[Constant]) -> Predicate:
    (c,) = _strs(consts)
    low = c.lower()
    return lambda v: low in v.lower()


def _startswith(consts: Sequence[Constant]) -> Predicate:
    prefixes = _strs(consts)
    return lambda v: v.startswith(prefixes)


def _endswith(consts: Sequence[Constant]) -> Predicate:
    suffixes = _strs(consts)
    return lambda v: v.endswith(suffixes)


def _glob(flags: int) -> Builder:
    def build(consts: Sequence[Constant]) -> Predicate:
        (c,) = _strs(consts)
        match = re.compile(fnmatch.translate(c), flags).match
        return lambda v: match(v) is not None

    return build


def _regex(consts: Sequence[Constant]) -> Predicate:
    (c,) = _strs(consts)
    try:
        full = re.compile(c).fullmatch
    except re.error as exc:
        raise BadValueError(f"bad regular expression {c!r}: {exc}") from None
    return lambda v: full(v) is not None


def _pmatch(consts: Sequence[Constant]) -> Predicate:
    exact = frozenset(p.rstrip("/") or "/" for p in _strs(consts))
    prefixes = tuple("/" if p == "/" else p + "/" for p in exact)
    return lambda v: v in exact or v.startswith(prefixes)


def _unsupported(name: str) -> Builder:
    def build(_consts: Sequence[Constant]) -> Predicate:
        raise BadValueError(f"operator '{name}' works on byte buffers, which rtguard fields are not")

    return build


def _dyn_num(cmp: Callable[[int, int], bool]) -> Callable[[object, object], bool]:
    def apply(a: object, b: object) -> bool:
        return isinstance(a, int) and isinstance(b, int) and cmp(a, b)

    return apply


# Falco semantics for each operator; every grammar operator has an entry (a test checks it).
OPERATORS: Final[Mapping[str, Operator]] = {
    "exists": Operator("exists", Arity.UNARY, _EQ_TYPES, None),
    "=": Operator("=", Arity.SCALAR, _EQ_TYPES, _membership, lambda a, b: a == b),
    "==": Operator("==", Arity.SCALAR, _EQ_TYPES, _membership, lambda a, b: a == b),
    "!=": Operator("!=", Arity.SCALAR, _EQ_TYPES, lambda c: _not(_membership(c)), lambda a, b: a != b),
    "<": Operator("<", Arity.SCALAR, _NUM, _num(lambda a, b: a < b), _dyn_num(lambda a, b: a < b)),
    "<=": Operator("<=", Arity.SCALAR, _NUM, _num(lambda a, b: a <= b), _dyn_num(lambda a, b: a <= b)),
    ">": Operator(">", Arity.SCALAR, _NUM, _num(lambda a, b: a > b), _dyn_num(lambda a, b: a > b)),
    ">=": Operator(">=", Arity.SCALAR, _NUM, _num(lambda a, b: a >= b), _dyn_num(lambda a, b: a >= b)),
    "contains": Operator("contains", Arity.SCALAR, _STR, _contains, lambda a, b: str(b) in str(a)),
    "icontains": Operator(
        "icontains", Arity.SCALAR, _STR, _icontains, lambda a, b: str(b).lower() in str(a).lower()
    ),
    "startswith": Operator(
        "startswith", Arity.SCALAR, _STR, _startswith, lambda a, b: str(a).startswith(str(b))
    ),
    "endswith": Operator("endswith", Arity.SCALAR, _STR, _endswith, lambda a, b: str(a).endswith(str(b))),
    "glob": Operator("glob", Arity.SCALAR, _STR, _glob(0)),
    "iglob": Operator("iglob", Arity.SCALAR, _STR, _glob(re.IGNORECASE)),
    "regex": Operator("regex", Arity.SCALAR, _STR, _regex),
    "bcontains": Operator("bcontains", Arity.SCALAR, _STR, _unsupported("bcontains")),
    "bstartswith": Operator("bstartswith", Arity.SCALAR, _STR, _unsupported("bstartswith")),
    "in": Operator("in", Arity.LIST, _EQ_TYPES, _membership),
    "intersects": Operator("intersects", Arity.LIST, _EQ_TYPES, _membership),
    "pmatch": Operator("pmatch", Arity.LIST, _STR, _pmatch),
}

assert set(OPERATORS) == set(UNARY_OPERATORS + SCALAR_OPERATORS + LIST_OPERATORS)


# -- transformers -------------------------------------------------------------------------------


def _b64(s: str) -> str | None:
    try:
        return base64.b64decode(s, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Transformer:
    """A field transformer: the type it takes and gives, and the function on one value."""

    name: str
    result: FieldType
    apply: Callable[[str], str | int | None]
    whole_list: bool = False


TRANSFORMERS: Final[Mapping[str, Transformer]] = {
    "tolower": Transformer("tolower", FieldType.STRING, str.lower),
    "toupper": Transformer("toupper", FieldType.STRING, str.upper),
    "b64": Transformer("b64", FieldType.STRING, _b64),
    "basename": Transformer("basename", FieldType.STRING, posixpath.basename),
    "len": Transformer("len", FieldType.INT, len, whole_list=True),
}
