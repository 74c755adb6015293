"""The pure meaning of finding conditions, sort keys and page tokens."""

from __future__ import annotations

from typing import Any

import pytest

from rtguard.store.query import (
    Condition,
    InvalidPageTokenError,
    Op,
    SortSpec,
    decode_token,
    encode_token,
    iso_to_ms,
    matches,
    sort_key,
    values_at,
)

DOC: dict[str, Any] = {
    "id": "abc",
    "severity": 8.0,
    "updatedAt": "2024-05-01T10:00:00.000Z",
    "resource": {
        "instanceDetails": {"tags": [{"key": "env", "value": "prod"}, {"key": "team", "value": "sec"}]}
    },
    "service": {
        "archived": True,
        "count": 3,
        "runtimeDetails": {"process": {"lineage": [{"name": "sh"}, {"name": "sshd"}]}},
    },
}


def test_values_at_flattens_lists_along_the_path() -> None:
    assert values_at(DOC, "resource.instanceDetails.tags.key") == ["env", "team"]
    assert values_at(DOC, "service.runtimeDetails.process.lineage.name") == ["sh", "sshd"]
    assert values_at(DOC, "resource.nothing.here") == []
    assert values_at({}, "service.archived") == [False]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (Condition(field="resource.instanceDetails.tags.value", op=Op.EQ, values=("sec",)), True),
        (Condition(field="resource.instanceDetails.tags.value", op=Op.NEQ, values=("sec",)), False),
        (Condition(field="resource.instanceDetails.tags.value", op=Op.NEQ, values=("dev",)), True),
        (Condition(field="service.archived", op=Op.EQ, values=("TRUE",)), True),
        (Condition(field="service.archived", op=Op.EQ, values=("false",)), False),
        (Condition(field="severity", op=Op.EQ, values=("8",)), True),
        (Condition(field="severity", op=Op.EQ, values=("high",)), False),
        (Condition(field="severity", op=Op.GT, bound=8), False),
        (Condition(field="severity", op=Op.GTE, bound=8), True),
        (Condition(field="service.count", op=Op.LTE, bound=3), True),
        (Condition(field="updatedAt", op=Op.EQ, values=("1714557600000",)), True),
        (Condition(field="updatedAt", op=Op.LT, bound=1714557600000), False),
        (Condition(field="updatedAt", op=Op.LTE, bound=1714557600000), True),
        (Condition(field="missing", op=Op.NEQ, values=("x",)), True),
        (Condition(field="missing", op=Op.GT, bound=0), False),
        (Condition(field="id", op=Op.GT, bound=0), False),  # text is not a number
    ],
)
def test_condition_semantics(condition: Condition, expected: bool) -> None:
    assert matches(DOC, [condition]) is expected


def test_all_conditions_must_hold() -> None:
    yes = Condition(field="severity", op=Op.GTE, bound=5)
    no = Condition(field="id", op=Op.EQ, values=("zzz",))
    assert matches(DOC, [yes]) and not matches(DOC, [yes, no]) and matches(DOC, [])


def test_iso_to_ms() -> None:
    assert iso_to_ms("2024-05-01T10:00:00.000Z") == 1714557600000
    assert iso_to_ms("2024-05-01T10:00:00") == 1714557600000
    assert iso_to_ms("2024-05-01T12:00:00+02:00") == 1714557600000
    assert iso_to_ms("yesterday") is None


def test_sort_keys_order_numbers_then_text_then_missing() -> None:
    keys = [
        sort_key({"v": 2}, "v"),
        sort_key({"v": "2024-01-01T00:00:00Z"}, "v"),
        sort_key({"v": "b"}, "v"),
        sort_key({}, "v"),
    ]
    assert keys[0] < keys[1] < keys[2] < keys[3]
    assert sort_key({"v": "2024-01-01T00:00:00.5Z"}, "v") > sort_key({"v": "2024-01-01T00:00:00.123Z"}, "v")


def test_tokens_round_trip_and_are_bound_to_their_query() -> None:
    sort = SortSpec(field="severity", descending=True)
    conditions = [Condition(field="type", op=Op.EQ, values=("x",))]
    token = encode_token("det", conditions, sort, DOC)
    assert decode_token(token, "det", conditions, sort) == ((0, 8.0, ""), "abc")
    with pytest.raises(InvalidPageTokenError):
        decode_token(token, "other-detector", conditions, sort)
    with pytest.raises(InvalidPageTokenError):
        decode_token(token[:-3] + "!!!", "det", conditions, sort)
