"""Coverage: which clusters, tasks and instances are protected, and why not where they are not.

Pure computation (``enablement``, ``compute``, ``query``) and one imperative shell (``monitor``).
Importing this package must not start threads or open the store.
"""

from rtguard.coverage.compute import HEALTHY, UNHEALTHY, compute_coverage
from rtguard.coverage.enablement import (
    MANAGED_TAG,
    Decision,
    ManagementType,
    RuntimeSettings,
    decide_ec2,
    decide_ecs,
)
from rtguard.coverage.monitor import CoverageConfig, CoverageMonitor, coverage_event

__all__ = [
    "HEALTHY",
    "MANAGED_TAG",
    "UNHEALTHY",
    "CoverageConfig",
    "CoverageMonitor",
    "Decision",
    "ManagementType",
    "RuntimeSettings",
    "compute_coverage",
    "coverage_event",
    "decide_ec2",
    "decide_ecs",
]
