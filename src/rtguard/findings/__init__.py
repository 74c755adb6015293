"""Findings: turn detections into GuardDuty-shaped finding documents under a documented key.

Pure construction lives here; storing, aggregating in the database and publishing happen in
``rtguard.store`` and ``rtguard.worker``.
"""

from rtguard.findings.build import FindingContext, aggregation_key, build_finding, finding_id

__all__ = ["FindingContext", "aggregation_key", "build_finding", "finding_id"]
