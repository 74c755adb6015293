"""Located, coded load errors and warnings, and the ``LoadResult`` that carries them.

Loading rule files never stops at the first problem: every stage appends ``LoadError`` or
``LoadWarning`` entries (a ``code``, a message, and a ``SourceLocation`` with path, line, column
and item name) and the caller decides what to do. ``format_messages`` prints them as
``path:line:col: CODE message`` for ``rtguard rules validate``. Pure data; this module must
not read files or know the rule format (the same types serve config files).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class LoadCode(StrEnum):
    """Error codes start with ``LOAD_ERR_``, warning codes with ``LOAD_WARN_``."""

    FILE_READ = "LOAD_ERR_FILE_READ"
    YAML_PARSE = "LOAD_ERR_YAML_PARSE"
    YAML_VALIDATE = "LOAD_ERR_YAML_VALIDATE"
    CONDITION_PARSE = "LOAD_ERR_CONDITION_PARSE"
    UNKNOWN_FIELD = "LOAD_ERR_UNKNOWN_FIELD"
    FIELD_ARG = "LOAD_ERR_FIELD_ARG"
    UNDEFINED_MACRO = "LOAD_ERR_UNDEFINED_MACRO"
    UNDEFINED_LIST = "LOAD_ERR_UNDEFINED_LIST"
    MACRO_CYCLE = "LOAD_ERR_MACRO_CYCLE"
    OPERATOR = "LOAD_ERR_OPERATOR"
    VALUE = "LOAD_ERR_VALUE"
    APPEND = "LOAD_ERR_APPEND"
    OVERRIDE = "LOAD_ERR_OVERRIDE"
    EXCEPTION = "LOAD_ERR_EXCEPTION"
    DUPLICATE_ID = "LOAD_ERR_DUPLICATE_ID"
    FINDING_TYPE = "LOAD_ERR_FINDING_TYPE"
    SEVERITY = "LOAD_ERR_SEVERITY"
    CONTEXT = "LOAD_ERR_CONTEXT"
    TEMPLATE = "LOAD_ERR_TEMPLATE"
    NO_EVTTYPE = "LOAD_WARN_NO_EVTTYPE"
    UNKNOWN_EVTTYPE = "LOAD_WARN_UNKNOWN_EVTTYPE"
    UNUSED_MACRO = "LOAD_WARN_UNUSED_MACRO"
    UNUSED_LIST = "LOAD_WARN_UNUSED_LIST"
    UNKNOWN_KEY = "LOAD_WARN_UNKNOWN_KEY"
    IGNORED_ITEM = "LOAD_WARN_IGNORED_ITEM"
    NO_FINDING_TYPE = "LOAD_WARN_NO_FINDING_TYPE"
    NO_ID = "LOAD_WARN_NO_ID"
    SKIPPED_RULE = "LOAD_WARN_SKIPPED_RULE"
    FIELD_NEVER_SET = "LOAD_WARN_FIELD_NEVER_SET"


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a problem is: file, 1-based line and column, and the item (rule, macro, list)."""

    path: str
    line: int = 0
    column: int = 0
    item: str = ""


@dataclass(frozen=True, slots=True)
class LoadError:
    """A problem that makes the item (or the file) unusable."""

    code: LoadCode
    message: str
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class LoadWarning:
    """A problem the loader worked around; the item is loaded."""

    code: LoadCode
    message: str
    location: SourceLocation


@dataclass(slots=True)
class LoadResult(Generic[T]):
    """What loading produced: the usable ``items`` plus every error and warning, in order.

    Items whose definition has an error are left out; the rest load (so one bad user rule does
    not disable the shipped ones). ``ok`` is true when there is no error.
    """

    items: list[T] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    warnings: list[LoadWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, code: LoadCode, message: str, location: SourceLocation) -> None:
        self.errors.append(LoadError(code, message, location))

    def warn(self, code: LoadCode, message: str, location: SourceLocation) -> None:
        self.warnings.append(LoadWarning(code, message, location))


def format_message(entry: LoadError | LoadWarning) -> str:
    """``path:line:col: CODE message`` (with ``(item)`` when the item is known)."""
    loc = entry.location
    where = f"{loc.path}:{loc.line}:{loc.column}"
    item = f" ({loc.item})" if loc.item else ""
    return f"{where}: {entry.code.value} {entry.message}{item}"


def format_messages(result: LoadResult[T], *, warnings: bool = True) -> list[str]:
    """Every error, then every warning, one line each, ordered by file, line and column."""
    entries: Iterable[LoadError | LoadWarning] = result.errors
    ordered = sorted(entries, key=_order)
    if warnings:
        ordered += sorted(result.warnings, key=_order)
    return [format_message(e) for e in ordered]


def _order(entry: LoadError | LoadWarning) -> tuple[str, int, int]:
    loc = entry.location
    return (loc.path, loc.line, loc.column)
