"""Reading a YAML rule file while keeping where every value came from.

``read_items`` composes the document with PyYAML (node marks give line and column), checks
that it is a list of mappings and returns one ``YamlItem`` per entry: its keys, their Python
values and positions. ``YamlItem.origin`` maps each character of a string value (folded,
literal, quoted) back to its file line and column, so condition errors point into the file.
This module must not know what a rule, macro or list means, and reads no file itself (the
caller passes the text).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TypeVar

import yaml

from rtguard.detect.condition.ast import Origin, Pos
from rtguard.detect.result import LoadCode, LoadResult, SourceLocation

T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a plain ``=`` is the string "=" (as in Falco's files:
    ``comps: [=, contains]``), not YAML 1.1's special "value" key."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


class _Lines:
    """Maps a character index of the file text to a 1-based line and column."""

    __slots__ = ("_path", "_starts")

    def __init__(self, path: str, text: str) -> None:
        self._path = path
        self._starts = [0]
        self._starts += [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def pos(self, index: int) -> Pos:
        line = bisect.bisect_right(self._starts, index) - 1
        return Pos(self._path, line + 1, index - self._starts[line] + 1)


@dataclass(slots=True)
class YamlItem:
    """One top-level entry of a rules file: ``{key: value}`` with positions.

    ``broken`` is set when a value could not be read (the error is already reported).
    """

    path: str
    pos: Pos
    values: dict[str, object] = field(default_factory=dict)
    key_pos: dict[str, Pos] = field(default_factory=dict)
    value_pos: dict[str, Pos] = field(default_factory=dict)
    nodes: dict[str, yaml.Node] = field(default_factory=dict)
    broken: bool = False
    _text: str = ""
    _lines: _Lines | None = None

    def loc(self, key: str | None = None, item: str = "") -> SourceLocation:
        """The location of ``key``'s value (of the item itself when ``key`` is None)."""
        pos = self.value_pos.get(key, self.pos) if key else self.pos
        return SourceLocation(pos.path, pos.line, pos.column, item)

    def origin(self, key: str) -> Origin:
        """Per-character positions of the string value of ``key``."""
        node = self.nodes[key]
        value = self.values[key]
        assert isinstance(value, str) and self._lines is not None
        return align(value, self._text, node.start_mark.index, node.end_mark.index, self._lines)

    def element_pos(self, key: str, index: int) -> Pos:
        """Position of element ``index`` of a sequence value (the value's position otherwise)."""
        node = self.nodes.get(key)
        if isinstance(node, yaml.SequenceNode) and 0 <= index < len(node.value) and self._lines:
            return self._lines.pos(node.value[index].start_mark.index)
        return self.value_pos.get(key, self.pos)

    def nested_pos(self, key: str, *path: int | str) -> Pos:
        """Position of a value nested under ``key`` by sequence indexes and mapping keys."""
        node: yaml.Node | None = self.nodes.get(key)
        for step in path:
            node = _child(node, step)
        if node is None or self._lines is None:
            return self.value_pos.get(key, self.pos)
        return self._lines.pos(node.start_mark.index)


def _child(node: yaml.Node | None, step: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int):
        return node.value[step] if 0 <= step < len(node.value) else None
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == step and isinstance(v, yaml.Node):
                return v
    return None


def align(value: str, text: str, start: int, end: int, lines: _Lines) -> Origin:
    """Positions for each character of a scalar's value within its raw source text.

    Non-blank characters are matched in order against the raw text (folding, indentation
    and quoting only add or change blanks and escapes); a blank takes the position of the
    next raw character.
    """
    positions: list[Pos] = []
    j = start
    for ch in value:
        if ch.isspace():
            positions.append(lines.pos(min(j, end)))
            continue
        k = text.find(ch, j, end)
        if k < 0:
            positions.append(lines.pos(min(j, end)))
            continue
        positions.append(lines.pos(k))
        j = k + 1
    return Origin(positions, lines.pos(end))


def read_items(path: str, text: str, result: LoadResult[T]) -> list[YamlItem]:
    """The entries of one rules file; YAML and shape problems go to ``result.errors``."""
    lines = _Lines(path, text)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        result.error(
            LoadCode.YAML_PARSE, f"invalid YAML: {exc.problem or exc}", SourceLocation(path, line, col)
        )
        loader.dispose()
        return []
    except yaml.YAMLError as exc:
        result.error(LoadCode.YAML_PARSE, f"invalid YAML: {exc}", SourceLocation(path, 1, 1))
        loader.dispose()
        return []
    try:
        return _items(path=path, text=text, lines=lines, loader=loader, root=root, result=result)
    finally:
        loader.dispose()


def _items(
    *,
    path: str,
    text: str,
    lines: _Lines,
    loader: _Loader,
    root: yaml.Node | None,
    result: LoadResult[T],
) -> list[YamlItem]:
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        result.error(
            LoadCode.YAML_VALIDATE,
            "a rules file is a list of items (- rule:, - macro:, - list:)",
            _loc(lines, root),
        )
        return []
    items: list[YamlItem] = []
    for entry in root.value:
        if not isinstance(entry, yaml.MappingNode):
            result.error(LoadCode.YAML_VALIDATE, "each item must be a mapping", _loc(lines, entry))
            continue
        item = YamlItem(path=path, pos=lines.pos(entry.start_mark.index), _text=text, _lines=lines)
        for key_node, value_node in entry.value:
            if not isinstance(key_node, yaml.ScalarNode):
                result.error(LoadCode.YAML_VALIDATE, "item keys must be strings", _loc(lines, key_node))
                continue
            key = str(key_node.value)
            try:
                item.values[key] = loader.construct_object(value_node, deep=True)
            except yaml.YAMLError as exc:
                result.error(LoadCode.YAML_VALIDATE, f"bad value for '{key}': {exc}", _loc(lines, value_node))
                item.broken = True
                continue
            item.key_pos[key] = lines.pos(key_node.start_mark.index)
            item.value_pos[key] = lines.pos(value_node.start_mark.index)
            item.nodes[key] = value_node
        items.append(item)
    return items


def _loc(lines: _Lines, node: yaml.Node) -> SourceLocation:
    pos = lines.pos(node.start_mark.index)
    return SourceLocation(pos.path, pos.line, pos.column)
