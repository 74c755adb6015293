"""``@frozen``: the hot path's value types, immutable to the type checker and cheap to build.

``@dataclass(frozen=True)`` makes ``__init__`` store every field through
``object.__setattr__``: about 6 µs for the 31-field exec record on our machines, and the agent
builds several such objects per exec. ``@frozen`` gives mypy the same class as
``@dataclass(frozen=True, slots=True, kw_only=True)`` (``dataclass_transform`` with
``frozen_default``: assigning a field is a type error, and ``mypy --strict`` gates every change)
and at run time a slotted, keyword-only dataclass whose ``__init__`` stores fields directly, with
the field-wise ``__eq__`` and ``__hash__`` a frozen dataclass has. Immutability is therefore
enforced statically, not at run time: this module must only be used for rtguard's own value types,
whose every writer is type-checked, and nothing may rely on ``FrozenInstanceError``.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar, dataclass_transform

__all__ = ["frozen"]

_T = TypeVar("_T")


@dataclass_transform(
    frozen_default=True,
    kw_only_default=True,
    field_specifiers=(dataclasses.field, dataclasses.Field),
)
def frozen(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a slotted, keyword-only dataclass that hashes and compares by its fields."""
    return dataclasses.dataclass(slots=True, kw_only=True, unsafe_hash=True)(cls)
