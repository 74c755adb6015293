"""Detection: Falco-language rules and stateful detectors turn runtime events into detections.

``build_engine()`` loads the shipped rules (plus user rule files) and returns an ``Engine``
whose ``evaluate(event)`` gives the ``Detection`` list for one event; ``validate_rule_files``
and ``format_load_result`` serve ``rtguard rules validate``. Pure over events: this package
must not build findings, store anything or talk to the network.
"""

from rtguard.detect.detector import Detector, EngineState
from rtguard.detect.engine import Engine, build_engine
from rtguard.detect.fields import FIELDS, render_fields_markdown
from rtguard.detect.loader import (
    SHIPPED_RULE_FILES,
    format_load_result,
    load_rule_texts,
    load_rules,
    validate_rule_files,
)
from rtguard.detect.result import (
    LoadCode,
    LoadError,
    LoadResult,
    LoadWarning,
    SourceLocation,
    format_message,
    format_messages,
)
from rtguard.detect.rule import CompiledRule

__all__ = [
    "FIELDS",
    "SHIPPED_RULE_FILES",
    "CompiledRule",
    "Detector",
    "Engine",
    "EngineState",
    "LoadCode",
    "LoadError",
    "LoadResult",
    "LoadWarning",
    "SourceLocation",
    "build_engine",
    "format_load_result",
    "format_message",
    "format_messages",
    "load_rule_texts",
    "load_rules",
    "render_fields_markdown",
    "validate_rule_files",
]
