"""The direct ring-buffer reader's record walk, on a bytearray laid out like the kernel's."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.agent.sensors.bpf.ringbuf import BUSY_BIT, DISCARD_BIT, walk

SIZE = 256


def _ring(records: list[tuple[bytes, int]], start: int) -> tuple[bytearray, int, int]:
    """Write records (payload, flag bits) from position ``start``; return data, cons, prod."""
    data = bytearray(SIZE)
    pos = start
    for payload, bits in records:
        off = pos & (SIZE - 1)
        struct.pack_into("<II", data, off, len(payload) | bits, 0)
        for i, b in enumerate(payload):
            data[(off + 8 + i) & (SIZE - 1)] = b
        pos += (len(payload) + 8 + 7) & ~7
    return data, start, pos


def test_records_in_order_skipping_discarded_and_stopping_at_busy() -> None:
    recs = [(b"first", 0), (b"gone", DISCARD_BIT), (b"second!", 0), (b"writing", BUSY_BIT), (b"later", 0)]
    data, cons, prod = _ring(recs, 0)
    out: list[bytes] = []
    new = walk(memoryview(data), SIZE - 1, cons, prod, 100, out)
    assert out == [b"first", b"second!"]
    assert new == 16 + 16 + 16  # stopped before the busy record
    assert walk(memoryview(data), SIZE - 1, new, prod, 100, []) == new  # still busy: no progress


def test_a_record_crossing_the_end_is_joined() -> None:
    payload = bytes(range(40))
    data, cons, prod = _ring([(payload, 0)], SIZE - 16)  # header at 240, data wraps at 256
    out: list[bytes] = []
    assert walk(memoryview(data), SIZE - 1, cons, prod, 10, out) == prod
    assert out == [payload]


def test_limit_leaves_the_rest_for_later() -> None:
    data, cons, prod = _ring([(b"a", 0), (b"b", 0), (b"c", 0)], 0)
    out: list[bytes] = []
    mid = walk(memoryview(data), SIZE - 1, cons, prod, 2, out)
    assert out == [b"a", b"b"]
    assert walk(memoryview(data), SIZE - 1, mid, prod, 2, out) == prod and out[-1] == b"c"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=5),
    st.integers(min_value=0, max_value=10_000),
)
def test_any_layout_round_trips(payloads: list[bytes], start: int) -> None:
    start &= ~7  # the kernel keeps positions 8-byte aligned
    data, cons, prod = _ring([(p, 0) for p in payloads], start)
    out: list[bytes] = []
    assert walk(memoryview(data), SIZE - 1, cons, prod, 100, out) == prod
    assert out == payloads
