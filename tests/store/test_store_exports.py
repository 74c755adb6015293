"""The public surface of rtguard.store is deliberate: adding or removing a name updates this test."""

from __future__ import annotations

import rtguard.store


def test_store_exports() -> None:
    assert sorted(rtguard.store.__all__) == [
        "Condition",
        "DEFAULT_SORT",
        "EventRow",
        "FindingPage",
        "GroupBy",
        "InvalidPageTokenError",
        "Op",
        "SortSpec",
        "SqlStore",
        "Store",
        "StoreError",
        "UnknownAccountError",
    ]
    for name in rtguard.store.__all__:
        assert hasattr(rtguard.store, name)
