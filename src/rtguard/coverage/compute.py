"""Coverage computation: agents' last heartbeats, the ECS inventory and the detector's settings in,
GuardDuty ``CoverageResource`` documents (wire shape, without ``updatedAt``) out, one per ECS
cluster and one per EC2 instance, HEALTHY or UNHEALTHY with GuardDuty's issue strings.

A resource is HEALTHY when it is monitored, its agents report within the timeout and no task or
container instance in it lacks an agent. Pure: no clock (``now`` is an argument), no store, no
I/O; the monitor feeds it and saves what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rtguard.coverage.enablement import Decision, RuntimeSettings, decide_ec2, decide_ecs, tag_value
from rtguard.store.coverage import AgentRecord, InventoryRecord

__all__ = ["HEALTHY", "UNHEALTHY", "agent_decision", "cluster_name", "compute_coverage", "host_resource_id"]

HEALTHY: Final = "HEALTHY"
UNHEALTHY: Final = "UNHEALTHY"
_MAX_ISSUES: Final = 50


def cluster_name(cluster: str) -> str:
    """The cluster name from an ARN (``…:cluster/NAME``) or a name."""
    return cluster.rsplit("/", 1)[-1] if "/" in cluster else cluster.rsplit(":", 1)[-1]


def _resource(beat: Mapping[str, Any]) -> Mapping[str, Any]:
    res = beat.get("resource")
    return res if isinstance(res, Mapping) else {}


def _is_sidecar(beat: Mapping[str, Any]) -> bool:
    res = _resource(beat)
    return res.get("mode") == "sidecar" or (
        bool(res.get("task_arn")) and not res.get("container_instance_arn")
    )


def host_resource_id(beat: Mapping[str, Any]) -> str:
    """The EC2 resource id of a host agent: its instance id, else its host name."""
    return str(beat.get("instance_id") or "") or f"host/{beat.get('hostname') or beat.get('agent_id', '?')}"


def _task_definition(res: Mapping[str, Any]) -> str:
    family, revision = str(res.get("family") or ""), str(res.get("revision") or "")
    return f"{family}:{revision}" if family and revision else family or "unknown"


def _task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


@dataclass(slots=True)
class _Cluster:
    arn: str
    tags: Any = None
    tasks_fresh: set[str] = field(default_factory=set)
    stale_by_td: dict[str, list[str]] = field(default_factory=dict)
    instances: set[str] = field(default_factory=set)
    instances_covered: set[str] = field(default_factory=set)
    reported_issues: list[str] = field(default_factory=list)


def _inventory_maps(
    inventory: Sequence[InventoryRecord],
) -> tuple[dict[str, Mapping[str, Any]], dict[str, Any]]:
    clusters: dict[str, Mapping[str, Any]] = {r.key: r.doc for r in inventory if r.kind == "cluster"}
    instance_tags: dict[str, Any] = {r.key: r.doc.get("tags") for r in inventory if r.kind == "instance"}
    return clusters, instance_tags


def agent_decision(
    settings: RuntimeSettings, beat: Mapping[str, Any], inventory: Sequence[InventoryRecord]
) -> Decision:
    """Whether this agent's resource is monitored (the heartbeat answer's ``enabled``)."""
    clusters, instance_tags = _inventory_maps(inventory)
    if _is_sidecar(beat):
        doc = clusters.get(str(_resource(beat).get("cluster_arn") or ""), {})
        return decide_ecs(settings, tag_value(doc.get("tags")))
    tags = instance_tags.get(str(beat.get("instance_id") or ""), beat.get("instance_tags"))
    return decide_ec2(settings, tag_value(tags if isinstance(tags, Mapping | list) else None))


def _ec2_resource(
    *, account_id: str, detector_id: str, agent: AgentRecord, decision: Decision, fresh: bool, age: float
) -> dict[str, Any]:
    beat, res = agent.beat, _resource(agent.beat)
    details: dict[str, Any] = {
        "instanceId": str(beat.get("instance_id") or host_resource_id(beat)),
        "agentDetails": {"version": str(beat.get("agent_version") or "")},
        "managementType": decision.management.value,
    }
    if beat.get("instance_type"):
        details["instanceType"] = str(beat["instance_type"])
    if res.get("cluster_arn"):
        details["clusterArn"] = str(res["cluster_arn"])
    if not decision.monitored:
        status, issue = UNHEALTHY, decision.issue
    elif not fresh:
        status, issue = UNHEALTHY, f"Agent not reporting : Agent disconnected; no heartbeat for {int(age)} s"
    else:
        status, issue = HEALTHY, ""
    return {
        "resourceId": host_resource_id(beat),
        "detectorId": detector_id,
        "accountId": account_id,
        "coverageStatus": status,
        "issue": issue,
        "resourceDetails": {"resourceType": "EC2", "ec2InstanceDetails": details},
    }


def _cluster_issues(cluster: _Cluster, decision: Decision) -> list[str]:
    issues: list[str] = []
    if not decision.monitored:
        issues.append(decision.issue)
    for td, tasks in sorted(cluster.stale_by_td.items()):
        ids = ", ".join(_task_id(t) for t in sorted(tasks))
        issues.append(
            f"Agent not reporting : Agent not reporting for tasks in TaskDefinition - '{td}'. Impacted task ID(s): '{ids}'"
        )
    missing = sorted(cluster.instances - cluster.instances_covered)
    if missing:
        names = ", ".join(_task_id(i) for i in missing)
        issues.append(
            f"Agent not reporting : Agent disconnected on {len(missing)} of {len(cluster.instances)} "
            f"container instance(s): '{names}'"
        )
    issues.extend(cluster.reported_issues)
    return list(dict.fromkeys(i for i in issues if i))[:_MAX_ISSUES]


def compute_coverage(
    *,
    account_id: str,
    detector_id: str,
    settings: RuntimeSettings,
    agents: Sequence[AgentRecord],
    inventory: Sequence[InventoryRecord],
    now: float,
    timeout: float,
) -> list[dict[str, Any]]:
    """Every covered resource of the account (ECS clusters, EC2 instances), sorted by id.

    Args:
        settings: the detector's Runtime Monitoring switches.
        agents: the account's agents with their last heartbeat (``last_seen`` in epoch seconds).
        inventory: clusters (``{"clusterArn", "tags", "containerInstances": [EC2 instance ids],
            "issues": [...]}``)
            and instances (``{"instanceId", "tags"}``) reported by the ECS controller.
        now: epoch seconds; an agent is reporting when ``now - last_seen <= timeout``.
    """
    clusters_inv, _ = _inventory_maps(inventory)
    clusters: dict[str, _Cluster] = {}

    def cluster(arn: str) -> _Cluster:
        return clusters.setdefault(arn, _Cluster(arn=arn))

    for arn, doc in clusters_inv.items():
        c = cluster(arn)
        c.tags = doc.get("tags")
        c.instances.update(str(i) for i in doc.get("containerInstances") or ())
        c.reported_issues.extend(str(i) for i in doc.get("issues") or ())

    out: list[dict[str, Any]] = []
    for agent in agents:
        beat, res = agent.beat, _resource(agent.beat)
        age = max(0.0, now - agent.last_seen)
        fresh = age <= timeout
        arn = str(res.get("cluster_arn") or "")
        if _is_sidecar(beat):
            if not arn:
                continue
            task = str(res.get("task_arn") or agent.agent_id)
            if fresh:
                cluster(arn).tasks_fresh.add(task)
            else:
                cluster(arn).stale_by_td.setdefault(_task_definition(res), []).append(task)
            continue
        decision = agent_decision(settings, beat, inventory)
        out.append(
            _ec2_resource(
                account_id=account_id,
                detector_id=detector_id,
                agent=agent,
                decision=decision,
                fresh=fresh,
                age=age,
            )
        )
        if arn:
            # One container instance per EC2 instance; the controller reports them by instance id too.
            instance = str(
                beat.get("instance_id") or res.get("container_instance_arn") or host_resource_id(beat)
            )
            cluster(arn).instances.add(instance)
            if fresh and decision.monitored:
                cluster(arn).instances_covered.add(instance)

    for arn, c in sorted(clusters.items()):
        decision = decide_ecs(settings, tag_value(c.tags))
        issues = _cluster_issues(c, decision)
        details: dict[str, Any] = {
            "clusterName": cluster_name(arn),
            "fargateDetails": {"issues": issues, "managementType": decision.management.value},
        }
        if c.instances:
            details["containerInstanceDetails"] = {
                "coveredContainerInstances": len(c.instances_covered & c.instances),
                "compatibleContainerInstances": len(c.instances),
            }
        out.append(
            {
                "resourceId": cluster_name(arn),
                "detectorId": detector_id,
                "accountId": account_id,
                "coverageStatus": UNHEALTHY if issues else HEALTHY,
                "issue": issues[0] if issues else "",
                "resourceDetails": {"resourceType": "ECS", "ecsClusterDetails": details},
            }
        )
    return sorted(out, key=lambda r: (r["resourceDetails"]["resourceType"], r["resourceId"]))
