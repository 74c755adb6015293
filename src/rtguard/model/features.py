"""Detector features in GuardDuty's wire shape (``GetDetector``'s ``features``): the one pure function
that applies feature requests (UpdateDetector, UpdateMemberDetectors, organization auto-enable) to a
detector's current list.

Pure and stdlib-only like the rest of ``model``; must not validate requests (the API does) or store
anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["merge_features"]


def merge_features(
    current: Sequence[Mapping[str, Any]], requests: Sequence[Mapping[str, Any]], now: float
) -> list[dict[str, Any]]:
    """The detector's feature list after applying ``requests`` (GetDetector's wire shape).

    The legacy EKS_RUNTIME_MONITORING name updates the RUNTIME_MONITORING entry. Changed entries
    get ``updatedAt = now`` (epoch seconds); entries and configurations not named are kept.
    """
    merged = [dict(f) for f in current]
    for request in requests:
        entry = next((f for f in merged if f.get("name") == "RUNTIME_MONITORING"), None)
        if entry is None:
            entry = {"name": "RUNTIME_MONITORING", "status": "DISABLED", "additionalConfiguration": []}
            merged.append(entry)
        if request.get("status") is not None:
            entry["status"] = request["status"]
        entry["updatedAt"] = now
        configs = [dict(c) for c in entry.get("additionalConfiguration", [])]
        for item in request.get("additionalConfiguration", []):
            config = next((c for c in configs if c.get("name") == item["name"]), None)
            if config is None:
                config = {"name": item["name"]}
                configs.append(config)
            config["status"] = item["status"]
            config["updatedAt"] = now
        entry["additionalConfiguration"] = configs
    return merged
