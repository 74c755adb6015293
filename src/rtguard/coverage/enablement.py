"""Enablement: whether a resource is monitored, decided from the detector's RUNTIME_MONITORING
feature, its ECS_FARGATE_AGENT_MANAGEMENT and EC2_AGENT_MANAGEMENT settings and the
``GuardDutyManaged`` tag on the ECS cluster or EC2 instance (reference §4a, §4b), with the
management type coverage shows and, when not monitored, the issue that says why.

Pure: features and tags in, a decision out; must not read the store or talk to agents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "MANAGED_TAG",
    "Decision",
    "ManagementType",
    "RuntimeSettings",
    "decide_ec2",
    "decide_ecs",
    "tag_value",
]

MANAGED_TAG: Final = "GuardDutyManaged"
_DISABLED_ISSUE: Final = "Agent not provisioned : Runtime Monitoring is disabled for this detector; agents are told to stop sending"


class ManagementType(StrEnum):
    """GuardDuty's ``ManagementType``."""

    AUTO_MANAGED = "AUTO_MANAGED"
    MANUAL = "MANUAL"
    DISABLED = "DISABLED"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeSettings:
    """The detector's Runtime Monitoring switches."""

    runtime: bool = False
    fargate_auto: bool = False
    ec2_auto: bool = False

    @classmethod
    def from_features(
        cls, features: Sequence[Mapping[str, Any]] | None, detector_enabled: bool = True
    ) -> RuntimeSettings:
        """Read GetDetector's ``features`` (RUNTIME_MONITORING, or the legacy EKS_RUNTIME_MONITORING)."""
        if not detector_enabled:
            return cls()
        for feature in features or ():
            if feature.get("name") not in ("RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"):
                continue
            extra = {
                str(c.get("name")): c.get("status") == "ENABLED"
                for c in feature.get("additionalConfiguration") or ()
                if isinstance(c, Mapping)
            }
            return cls(
                runtime=feature.get("status") == "ENABLED",
                fargate_auto=extra.get("ECS_FARGATE_AGENT_MANAGEMENT", False),
                ec2_auto=extra.get("EC2_AGENT_MANAGEMENT", False),
            )
        return cls()


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Monitored or not, the management type, and the issue when not monitored."""

    monitored: bool
    management: ManagementType
    excluded_by_tag: bool = False
    issue: str = ""


def tag_value(tags: Mapping[str, str] | Sequence[Mapping[str, str]] | None) -> bool | None:
    """The ``GuardDutyManaged`` tag as True/False, None when absent or neither true nor false.

    Accepts a plain mapping or ECS's ``[{"key": …, "value": …}]`` list (either case of key names).
    """
    if tags is None:
        return None
    if isinstance(tags, Mapping):
        raw = tags.get(MANAGED_TAG)
    else:
        raw = None
        for tag in tags:
            key = tag.get("key", tag.get("Key"))
            if key == MANAGED_TAG:
                raw = tag.get("value", tag.get("Value"))
    if not isinstance(raw, str):
        return None
    lowered = raw.strip().lower()
    return True if lowered == "true" else False if lowered == "false" else None


def decide_ecs(settings: RuntimeSettings, cluster_tag: bool | None) -> Decision:
    """ECS cluster (Fargate tasks): automated config or ``GuardDutyManaged=true`` includes it,
    ``GuardDutyManaged=false`` excludes it even with automated config."""
    if not settings.runtime:
        return Decision(monitored=False, management=ManagementType.DISABLED, issue=_DISABLED_ISSUE)
    if cluster_tag is False:
        return Decision(
            monitored=False,
            management=ManagementType.DISABLED,
            excluded_by_tag=True,
            issue="Agent not provisioned : Tasks started when clusters had exclusion tag are excluded "
            "from Runtime Monitoring",
        )
    if settings.fargate_auto or cluster_tag is True:
        return Decision(monitored=True, management=ManagementType.AUTO_MANAGED)
    return Decision(
        monitored=False,
        management=ManagementType.DISABLED,
        issue="Agent not provisioned : Automated agent configuration for AWS Fargate (ECS only) is disabled "
        f"and the cluster has no {MANAGED_TAG}=true inclusion tag",
    )


def decide_ec2(settings: RuntimeSettings, instance_tag: bool | None) -> Decision:
    """EC2 instance (and ECS container instance): monitored unless excluded by tag; AUTO_MANAGED
    with automated config or the inclusion tag, MANUAL for an agent installed by hand."""
    if not settings.runtime:
        return Decision(monitored=False, management=ManagementType.MANUAL, issue=_DISABLED_ISSUE)
    if instance_tag is False:
        return Decision(
            monitored=False,
            management=ManagementType.MANUAL,
            excluded_by_tag=True,
            issue="Agent Not Provisioned : Instances with exclusion tags are excluded from Runtime Monitoring.",
        )
    auto = settings.ec2_auto or instance_tag is True
    return Decision(monitored=True, management=ManagementType.AUTO_MANAGED if auto else ManagementType.MANUAL)
