"""The condition compiler: a parsed condition becomes one Python closure over ``Event``.

Macros are expanded (each compiled once and cached), list names inside ``in (...)`` are
expanded, exceptions are added as ``and not (...)``, fields are resolved against the
catalogue, constants are typed once, and every node becomes a closure; nothing walks the tree
at run time. The compiler also works out which event kinds a condition can match (for the
engine's index) and drops ``evt.type`` tests the index makes redundant, and fuses ``or`` chains
of string tests on the same field so the field is read once. Problems are collected as
located errors. The compiler must not read files, know the YAML format or evaluate events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rtguard.detect.collector import ListDef, MacroDef, RuleDef
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
    Or,
    Origin,
    Pos,
    Scalar,
    Transform,
)
from rtguard.detect.condition.parser import ParseError, parse_condition
from rtguard.detect.exceptions import exception_exprs
from rtguard.detect.extractors import Extractor
from rtguard.detect.fields import FieldError, FieldType, resolve_field
from rtguard.detect.operators import OPERATORS, TRANSFORMERS, Arity, BadValueError, Constant, convert_value
from rtguard.detect.result import LoadCode, LoadError, LoadResult, SourceLocation
from rtguard.model.events import Event, EventKind

Matcher = Callable[[Event], bool]
ALL_KINDS: Final = frozenset(EventKind)
_MEMBERSHIP: Final = frozenset({"=", "==", "in", "intersects"})
_FUSABLE: Final = frozenset({"=", "==", "in", "intersects", "contains", "startswith", "endswith"})
# Fields whose values are among the names the engine indexes an event under (proc.names).
_NAME_FIELDS: Final = frozenset({"proc.name", "proc.names"})


def _names_all(parts: Sequence[Compiled]) -> frozenset[str] | None:
    """Names an ``and`` can match: the intersection of its gated parts (``None``: any)."""
    gated = [p.names for p in parts if p.names is not None]
    return frozenset.intersection(*gated) if gated else None


def _names_any(parts: Sequence[Compiled]) -> frozenset[str] | None:
    """Names an ``or`` can match: the union, unless one part matches any name."""
    if any(p.names is None for p in parts):
        return None
    return frozenset().union(*(p.names for p in parts if p.names is not None))


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled expression: ``fn``, the kinds it can match (``exact``: it tests only the
    kind) and, when it can only match processes of certain names, those ``names``."""

    fn: Matcher
    kinds: frozenset[EventKind]
    exact: bool = False
    names: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class _Operand:
    extract: Extractor
    type: FieldType
    multi: bool
    label: str


def _true(_e: Event) -> bool:
    return True


def _false(_e: Event) -> bool:
    return False


def _all(fns: Sequence[Matcher]) -> Matcher:
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        a, b = fns
        return lambda e: a(e) and b(e)
    if len(fns) == 3:
        a, b, c = fns
        return lambda e: a(e) and b(e) and c(e)
    chain = tuple(fns)

    # NOTE: explicit loops, not all()/any() over a generator: this is the per-event hot path.
    def every(e: Event) -> bool:
        for f in chain:  # noqa: SIM110
            if not f(e):
                return False
        return True

    return every


def _any(fns: Sequence[Matcher]) -> Matcher:
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        a, b = fns
        return lambda e: a(e) or b(e)
    chain = tuple(fns)

    def some(e: Event) -> bool:
        for f in chain:  # noqa: SIM110
            if f(e):
                return True
        return False

    return some


class Compiler:
    """Compiles rule conditions against a set of lists and macros; not thread-safe."""

    def __init__(self, lists: Mapping[str, ListDef], macros: Mapping[str, MacroDef], result: LoadResult[Any]):
        self._lists = lists
        self._macros = macros
        self._result = result
        self.used_lists: set[str] = set()
        self.used_macros: set[str] = set()
        self._macro_cache: dict[str, Compiled | LoadCode] = {}
        self._stack: list[str] = []
        self._sink: list[LoadError] = []
        self._item = ""

    # -- entry points ----------------------------------------------------------------------------

    def compile_rule(self, rule: RuleDef) -> Compiled | None:
        """The rule's condition with its exceptions, or ``None`` after reporting errors."""
        self._item, self._sink = rule.name, []
        compiled: Compiled | None = None
        try:
            tree = parse_condition(rule.condition, rule.origin or Origin.of_text(rule.condition))
        except ParseError as exc:
            self._err(LoadCode.CONDITION_PARSE, exc.message, exc.pos)
        else:
            exceptions = exception_exprs(rule, self._err)
            if exceptions is not None:
                if exceptions:
                    tree = And((tree, Not(Or(tuple(exceptions)) if len(exceptions) > 1 else exceptions[0])))
                compiled = self._top(tree)
        errors, self._sink = self._sink, []
        if errors and rule.skip_unknown and all(e.code is LoadCode.UNKNOWN_FIELD for e in errors):
            loc = SourceLocation(rule.pos.path, rule.pos.line, rule.pos.column, rule.name)
            self._result.warn(LoadCode.SKIPPED_RULE, f"skipped: {errors[0].message}", loc)
            return None
        self._result.errors.extend(errors)
        return None if errors else compiled

    def check_macro(self, macro: MacroDef) -> None:
        """Compile a macro no rule uses, so that its errors are reported too."""
        if macro.name not in self._macro_cache:
            self._macro_cache[macro.name] = self._compile_macro(macro)

    def compile_expr(self, tree: Expr, item: str = "") -> Compiled | None:
        """Compile a parsed expression outside any rule (tests, ad-hoc filters)."""
        self._item, self._sink = item, []
        compiled = self._top(tree)
        errors, self._sink = self._sink, []
        self._result.errors.extend(errors)
        return None if errors else compiled

    # -- reporting -------------------------------------------------------------------------------

    def _err(self, code: LoadCode, message: str, pos: Pos) -> None:
        self._sink.append(
            LoadError(code, message, SourceLocation(pos.path, pos.line, pos.column, self._item))
        )

    def _warn(self, code: LoadCode, message: str, pos: Pos) -> None:
        self._result.warn(code, message, SourceLocation(pos.path, pos.line, pos.column, self._item))

    # -- expressions -------------------------------------------------------------------------------

    def _top(self, tree: Expr) -> Compiled | None:
        """Like ``_compile``, but drops ``evt.type`` tests that the kind index already makes."""
        children = tree.children if isinstance(tree, And) else (tree,)
        parts = [self._compile(c) for c in children]
        if any(p is None for p in parts):
            return None
        done = [p for p in parts if p is not None]
        kinds = frozenset.intersection(*(p.kinds for p in done))
        if not kinds:
            return Compiled(_false, kinds, True)
        # An exact part (a pure evt.type test) holds for every kind of the intersection, which
        # is what the engine's index already guarantees: drop it from the run-time chain.
        kept = [p.fn for p in done if not p.exact]
        return Compiled(_all(kept) if kept else _true, kinds, all(p.exact for p in done), _names_all(done))

    def _compile(self, node: Expr) -> Compiled | None:
        match node:
            case And(children=children):
                return self._and(children)
            case Or(children=children):
                return self._or(children)
            case Not(child=child):
                inner = self._compile(child)
                if inner is None:
                    return None
                f = inner.fn
                kinds = ALL_KINDS - inner.kinds if inner.exact else ALL_KINDS
                return Compiled(lambda e: not f(e), kinds, inner.exact)
            case MacroRef():
                return self._macro(node)
            case Check():
                return self._check(node)

    def _and(self, children: Sequence[Expr]) -> Compiled | None:
        parts = [self._compile(c) for c in children]
        done = [p for p in parts if p is not None]
        if len(done) != len(parts):
            return None
        kinds = frozenset.intersection(*(p.kinds for p in done))
        return Compiled(_all([p.fn for p in done]), kinds, all(p.exact for p in done), _names_all(done))

    def _or(self, children: Sequence[Expr]) -> Compiled | None:
        fused, rest = self._fuse(children)
        parts = [self._compile(c) for c in rest]
        done = [p for p in parts if p is not None]
        if len(done) != len(parts) or None in fused:
            return None
        done += [f for f in fused if f is not None]
        kinds = frozenset.union(*(p.kinds for p in done))
        return Compiled(_any([p.fn for p in done]), kinds, all(p.exact for p in done), _names_any(done))

    def _macro(self, node: MacroRef) -> Compiled | None:
        name = node.name
        macro = self._macros.get(name)
        if macro is None:
            self._err(LoadCode.UNDEFINED_MACRO, f"undefined macro '{name}'", node.pos)
            return None
        self.used_macros.add(name)
        if name in self._stack:
            chain = " -> ".join((*self._stack[self._stack.index(name) :], name))
            self._err(LoadCode.MACRO_CYCLE, f"macro cycle: {chain}", node.pos)
            return None
        cached = self._macro_cache.get(name)
        if cached is None:
            cached = self._compile_macro(macro)
            self._macro_cache[name] = cached
        if isinstance(cached, LoadCode):
            self._err(cached, f"macro '{name}' has errors (reported at its definition)", node.pos)
            return None
        return cached

    def _compile_macro(self, macro: MacroDef) -> Compiled | LoadCode:
        saved = (self._item, self._sink)
        self._item, self._sink = macro.name, []
        self._stack.append(macro.name)
        compiled: Compiled | None = None
        try:
            tree = parse_condition(macro.condition, macro.origin)
        except ParseError as exc:
            self._err(LoadCode.CONDITION_PARSE, exc.message, exc.pos)
        else:
            compiled = self._compile(tree)
        self._stack.pop()
        errors = self._sink
        self._item, self._sink = saved
        self._result.errors.extend(errors)
        if compiled is None or errors:
            return errors[0].code if errors else LoadCode.CONDITION_PARSE
        return compiled

    # -- checks ----------------------------------------------------------------------------------

    def _check(self, node: Check) -> Compiled | None:
        op = OPERATORS[node.op]
        lhs = self._field_expr(node.lhs)
        if lhs is None:
            return None
        if lhs.type not in op.types:
            self._err(
                LoadCode.OPERATOR,
                f"operator '{op.name}' does not apply to {lhs.label} ({lhs.type})",
                node.pos,
            )
            return None
        if op.arity is Arity.UNARY:
            ext = lhs.extract
            if lhs.type is FieldType.EVTTYPE:
                return Compiled(_true, ALL_KINDS, True)
            return Compiled(
                (lambda e: bool(ext(e))) if lhs.multi else (lambda e: ext(e) is not None), ALL_KINDS
            )
        if isinstance(node.rhs, FieldOperand):
            return self._dynamic(node, lhs, node.rhs)
        consts = self._constants(node, lhs)
        if consts is None:
            return None
        if lhs.type is FieldType.EVTTYPE:
            return self._evttype(node, consts)
        return self._static(node, lhs, consts)

    def _field_expr(self, expr: FieldExpr) -> _Operand | None:
        if isinstance(expr, FieldRef):
            resolved = resolve_field(expr)
            if isinstance(resolved, FieldError):
                code = LoadCode.UNKNOWN_FIELD if resolved.unknown else LoadCode.FIELD_ARG
                self._err(code, resolved.message, expr.pos)
                return None
            return _Operand(resolved.extract, resolved.type, resolved.multi, resolved.label)
        return self._transform(expr)

    def _transform(self, expr: Transform) -> _Operand | None:
        inner = self._field_expr(expr.operand)
        if inner is None:
            return None
        tr = TRANSFORMERS[expr.name]
        if inner.type is not FieldType.STRING:
            self._err(LoadCode.OPERATOR, f"'{expr.name}()' needs a string field, not {inner.label}", expr.pos)
            return None
        ext, apply = inner.extract, tr.apply
        label = f"{expr.name}({inner.label})"

        def whole(e: Event) -> Any:
            v: Any = ext(e)
            return None if v is None else apply(v)

        def each(e: Event) -> Any:
            v: Any = ext(e)
            return None if v is None else tuple(apply(i) for i in v)

        if inner.multi and not tr.whole_list:
            return _Operand(each, tr.result, True, label)
        return _Operand(whole, tr.result, False, label)

    def _constants(self, node: Check, lhs: _Operand) -> list[Constant] | None:
        scalars = self._scalars(node)
        if scalars is None:
            return None
        consts: list[Constant] = []
        ok = True
        for text, pos in scalars:
            try:
                typed = convert_value(lhs.type, text)
            except BadValueError as exc:
                self._err(LoadCode.VALUE, f"{exc} (for {lhs.label}, a {lhs.type} field)", pos)
                ok = False
                continue
            if lhs.type is FieldType.EVTTYPE and not typed:
                self._warn(
                    LoadCode.UNKNOWN_EVTTYPE,
                    f"event type '{text}' is not recorded by rtguard; it never matches",
                    pos,
                )
            consts.extend(typed)
        return consts if ok else None

    def _scalars(self, node: Check) -> list[tuple[str, Pos]] | None:
        rhs = node.rhs
        if isinstance(rhs, Scalar):
            return [(rhs.text, rhs.pos)]
        if isinstance(rhs, ListRef):
            if rhs.name not in self._lists:
                self._err(LoadCode.UNDEFINED_LIST, f"undefined list '{rhs.name}'", rhs.pos)
                return None
            return self._expand_list(rhs.name, set())
        assert isinstance(rhs, ListLit)
        out: list[tuple[str, Pos]] = []
        for item in rhs.items:
            if not item.quoted and item.text in self._lists:
                out += self._expand_list(item.text, set())
            else:
                out.append((item.text, item.pos))
        return out

    def _expand_list(self, name: str, seen: set[str]) -> list[tuple[str, Pos]]:
        self.used_lists.add(name)
        seen.add(name)
        lst = self._lists[name]
        out: list[tuple[str, Pos]] = []
        for value in lst.items:
            if value in self._lists and value not in seen:
                out += self._expand_list(value, seen)
            else:
                out.append((value, lst.pos))
        return out

    def _evttype(self, node: Check, consts: list[Constant]) -> Compiled:
        kinds = frozenset(k for k in consts if isinstance(k, EventKind))
        if node.op == "!=":
            kinds = ALL_KINDS - kinds
        return Compiled(lambda e: e.kind in kinds, kinds, True)

    def _static(self, node: Check, lhs: _Operand, consts: list[Constant]) -> Compiled | None:
        op = OPERATORS[node.op]
        if op.arity is Arity.SCALAR and len(consts) != 1:
            self._err(LoadCode.VALUE, f"operator '{op.name}' takes one value", node.pos)
            return None
        # NOTE: on a multi-valued field "!=" means "no value is equal", so build "=" and negate.
        build = OPERATORS["="].build if node.op == "!=" and lhs.multi else op.build
        assert build is not None
        try:
            pred = build(consts)
        except BadValueError as exc:
            self._err(LoadCode.VALUE, str(exc), node.rhs.pos if node.rhs else node.pos)
            return None
        ext = lhs.extract
        if lhs.multi and (node.op in _MEMBERSHIP or node.op == "!=") and lhs.type is not FieldType.IP:
            members = frozenset(consts)
            disjoint = node.op == "!="

            def any_member(e: Event) -> bool:
                vs: Any = ext(e)
                return vs is not None and members.isdisjoint(vs) is disjoint

            gate = frozenset(str(c) for c in consts) if lhs.label in _NAME_FIELDS and not disjoint else None
            return Compiled(any_member, ALL_KINDS, names=gate)
        if lhs.multi:
            negate = node.op == "!="

            def any_value(e: Event) -> bool:
                vs: Any = ext(e)
                if vs is None:
                    return False
                found = any(pred(v) for v in vs)
                return not found if negate else found

            return Compiled(any_value, ALL_KINDS)
        if node.op in _MEMBERSHIP and lhs.type is not FieldType.IP:
            members = frozenset(consts)
            gate = frozenset(str(c) for c in consts) if lhs.label in _NAME_FIELDS else None
            return Compiled(lambda e: ext(e) in members, ALL_KINDS, names=gate)
        return Compiled(lambda e: (v := ext(e)) is not None and pred(v), ALL_KINDS)

    def _dynamic(self, node: Check, lhs: _Operand, rhs_node: FieldOperand) -> Compiled | None:
        op = OPERATORS[node.op]
        rhs = self._field_expr(rhs_node.expr)
        if rhs is None:
            return None
        if op.dynamic is None or op.arity is not Arity.SCALAR:
            self._err(LoadCode.OPERATOR, f"operator '{op.name}' cannot compare with a field", rhs_node.pos)
            return None
        if lhs.multi or rhs.multi or lhs.type is not rhs.type:
            self._err(
                LoadCode.OPERATOR,
                f"cannot compare {lhs.label} ({lhs.type}) with {rhs.label} ({rhs.type})",
                rhs_node.pos,
            )
            return None
        left, right, dyn = lhs.extract, rhs.extract, op.dynamic
        return Compiled(
            lambda e: (a := left(e)) is not None and (b := right(e)) is not None and dyn(a, b), ALL_KINDS
        )

    # -- or-fusion -------------------------------------------------------------------------------

    def _fuse(self, children: Sequence[Expr]) -> tuple[list[Compiled | None], list[Expr]]:
        """Group ``or``-ed string tests on one single-valued field into one closure per field."""
        groups: dict[tuple[str, str | None], list[Check]] = {}
        for c in children:
            if (
                isinstance(c, Check)
                and isinstance(c.lhs, FieldRef)
                and c.op in _FUSABLE
                and isinstance(c.rhs, Scalar | ListLit | ListRef)
            ):
                groups.setdefault((c.lhs.name, c.lhs.arg), []).append(c)
        fused: list[Compiled | None] = []
        taken: set[int] = set()
        for checks in groups.values():
            if len(checks) < 2:
                continue
            ref = checks[0].lhs
            assert isinstance(ref, FieldRef)
            resolved = resolve_field(ref)
            if isinstance(resolved, FieldError) or resolved.multi or resolved.type is not FieldType.STRING:
                continue
            fused.append(self._fused(resolved.extract, checks, gate=resolved.label in _NAME_FIELDS))
            taken.update(id(c) for c in checks)
        return fused, [c for c in children if id(c) not in taken]

    def _fused(self, ext: Extractor, checks: list[Check], *, gate: bool) -> Compiled | None:
        equal: set[str] = set()
        subs: list[str] = []
        prefixes: list[str] = []
        suffixes: list[str] = []
        sinks = {"contains": subs, "startswith": prefixes, "endswith": suffixes}
        for check in checks:
            scalars = self._scalars(check)
            if scalars is None:
                return None
            texts = [t for t, _ in scalars]
            if check.op in _MEMBERSHIP:
                equal.update(texts)
            else:
                sinks[check.op].extend(texts)
        members, pre, suf, needles = frozenset(equal), tuple(prefixes), tuple(suffixes), tuple(subs)
        names = members if gate and not (pre or suf or needles) else None

        def match(e: Event) -> bool:
            v: Any = ext(e)
            if v is None:
                return False
            if v in members or v.startswith(pre) or v.endswith(suf):
                return True
            for s in needles:  # noqa: SIM110
                if s in v:
                    return True
            return False

        return Compiled(match, ALL_KINDS, names=names)
