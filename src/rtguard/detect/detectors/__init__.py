"""The registry of built-in stateful detectors: an explicit tuple, one detector per module.

Adding a detector means adding its module here and its instance to ``BUILTIN``; nothing
registers itself on import. This package must not hold rule-engine code.
"""

from __future__ import annotations

from typing import Any, Final

from rtguard.detect.detector import Detector

BUILTIN: Final[tuple[Detector[Any], ...]] = ()

__all__ = ["BUILTIN"]
