"""The registry of built-in stateful detectors: an explicit tuple, one detector per module.

Adding a detector means adding its module here and its instance to ``BUILTIN``; nothing
registers itself on import. This package must not hold rule-engine code.
"""

from __future__ import annotations

from typing import Any, Final

from rtguard.detect.detector import Detector
from rtguard.detect.detectors.malicious_file import MaliciousFileDetector
from rtguard.detect.detectors.new_binary import NewBinaryDetector
from rtguard.detect.detectors.new_library import NewLibraryDetector
from rtguard.detect.detectors.reverse_shell import ReverseShellDetector
from rtguard.detect.detectors.suspicious_shell import SuspiciousShellDetector
from rtguard.detect.detectors.threatintel import ThreatIntelDetector

BUILTIN: Final[tuple[Detector[Any], ...]] = (
    ThreatIntelDetector(),
    NewBinaryDetector(),
    NewLibraryDetector(),
    ReverseShellDetector(),
    SuspiciousShellDetector(),
    MaliciousFileDetector(),
)

__all__ = ["BUILTIN"]
