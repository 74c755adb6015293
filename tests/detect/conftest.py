"""Fixtures for the detection tests: compile a condition alone, against optional lists and macros."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rtguard.detect.compiler import Compiled, Compiler
from rtguard.detect.condition import parse_condition
from rtguard.detect.result import LoadResult
from rtguard.model.events import Event

Matcher = Callable[[str, Event], bool]
CompileCondition = Callable[[str], tuple[Compiled | None, LoadResult[object]]]


def _compile_condition(text: str) -> tuple[Compiled | None, LoadResult[object]]:
    result: LoadResult[object] = LoadResult()
    return Compiler({}, {}, result).compile_expr(parse_condition(text)), result


@pytest.fixture
def compile_condition() -> CompileCondition:
    """``compile_condition(text)``: the compiled condition (or None) and the load result."""
    return _compile_condition


@pytest.fixture
def matches() -> Matcher:
    """``matches(condition, event)``: compile (must succeed) and evaluate as the engine does
    (the kind index first: the compiled function may rely on it)."""

    def run(text: str, event: Event) -> bool:
        compiled, result = _compile_condition(text)
        assert compiled is not None, result.errors
        return event.kind in compiled.kinds and compiled.fn(event)

    return run
