"""ECS integration: task-definition sidecar injection, pre-flight checks, the requirement tables
and the controller that keeps services in scope instrumented.

Importing this package must stay cheap: it must not import boto3 (only ``controller`` does).
"""

from rtguard.ecs.inject import (
    DEFAULT_IMAGE,
    SIDECAR_NAME,
    InjectError,
    Injection,
    MemoryPolicy,
    SidecarSettings,
    inject_sidecar,
    remove_sidecar,
)
from rtguard.ecs.preflight import CheckResult, format_results, preflight

__all__ = [
    "DEFAULT_IMAGE",
    "SIDECAR_NAME",
    "CheckResult",
    "InjectError",
    "Injection",
    "MemoryPolicy",
    "SidecarSettings",
    "format_results",
    "inject_sidecar",
    "preflight",
    "remove_sidecar",
]
