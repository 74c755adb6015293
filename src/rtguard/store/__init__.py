"""Durable state of the rtguard server: the ``Store`` protocol and its SQL implementation.

Importing this package must not open a database; construct ``SqlStore(url)`` explicitly.
"""

from rtguard.store.base import DEFAULT_SORT, EventRow, Store, StoreError, UnknownAccountError
from rtguard.store.query import Condition, FindingPage, InvalidPageTokenError, Op, SortSpec
from rtguard.store.sqlite import SqlStore
from rtguard.store.stats import GroupBy

__all__ = [
    "DEFAULT_SORT",
    "Condition",
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
