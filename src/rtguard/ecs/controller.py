"""``EcsController``: one pass (or a loop of passes) over the ECS clusters of an account with
boto3. For clusters in scope (automated agent configuration or ``GuardDutyManaged=true``, and not
``GuardDutyManaged=false``) it registers a task definition revision with the agent sidecar and
updates each service to it (a new deployment); for clusters excluded it registers a revision
without the sidecar and updates the services back. Running tasks whose task definition has no
sidecar are reported as GuardDuty's "Agent not provisioned" issues with their task ids, and the
whole picture (clusters, tags, container instances, issues) goes to the reporter (the server's
``/agent/v1/inventory``).

The ECS client is injected (a boto3 ``ecs`` client, pointed at moto in tests); the controller
never creates clients, reads the environment or prints (the CLI does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rtguard.coverage.enablement import RuntimeSettings, decide_ecs, tag_value
from rtguard.ecs.inject import (
    SidecarSettings,
    has_sidecar,
    inject_sidecar,
    registrable,
    remove_sidecar,
)

__all__ = ["ClusterReport", "EcsController", "run_controller_cli"]

_log = logging.getLogger(__name__)
_BATCH = 10  # describe_services takes at most 10 names, describe_tasks 100


@dataclass(slots=True)
class ClusterReport:
    """What one pass did and found in one cluster."""

    cluster_arn: str
    name: str
    in_scope: bool
    tags: dict[str, str] = field(default_factory=dict)
    services_injected: list[str] = field(default_factory=list)
    services_reverted: list[str] = field(default_factory=list)
    uncovered_tasks: list[str] = field(default_factory=list)
    container_instances: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)

    def inventory(self) -> dict[str, Any]:
        """The cluster's entry in an inventory report."""
        return {
            "clusterArn": self.cluster_arn,
            "tags": dict(self.tags),
            "containerInstances": list(self.container_instances),
            "issues": list(self.issues),
        }


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class EcsController:
    """Keeps services in scope instrumented; see the module docstring.

    Args:
        ecs: a boto3 ECS client.
        sidecar: how to build the sidecar.
        runtime: the detector's Runtime Monitoring switches (``fargate_auto`` is
            ECS_FARGATE_AGENT_MANAGEMENT).
        reporter: receives ``{"clusters": [...]}`` after each pass (None: keep it to yourself).
        settings: asked before each pass for the detector's current switches (None, or an
            answer of None, keeps the last ones), so UpdateDetector on the server takes effect.
        ec2: a boto3 EC2 client; when given, the container instances' EC2 tags (their
            ``GuardDutyManaged`` tag decides EC2 coverage) are reported as ``instances``.
    """

    def __init__(
        self,
        ecs: Any,
        sidecar: SidecarSettings,
        runtime: RuntimeSettings,
        reporter: Callable[[dict[str, Any]], None] | None = None,
        settings: Callable[[], RuntimeSettings | None] | None = None,
        ec2: Any = None,
    ) -> None:
        self._ecs = ecs
        self._ec2 = ec2
        self._settings = settings
        self._sidecar = sidecar
        self.runtime = runtime
        self._reporter = reporter
        self._td_cache: dict[str, dict[str, Any]] = {}

    def _task_definition(self, arn: str) -> dict[str, Any]:
        if arn not in self._td_cache:
            out = self._ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
            td = dict(out["taskDefinition"])
            if out.get("tags"):
                td["tags"] = out["tags"]
            self._td_cache[arn] = td
        return self._td_cache[arn]

    def _register(self, td: Mapping[str, Any]) -> str:
        body = registrable(td)
        arn = str(self._ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"])
        return arn

    def _services(self, cluster: str) -> list[dict[str, Any]]:
        names: list[str] = []
        for page in self._ecs.get_paginator("list_services").paginate(cluster=cluster):
            names.extend(page.get("serviceArns", []))
        services: list[dict[str, Any]] = []
        for chunk in _chunks(names, _BATCH):
            services.extend(self._ecs.describe_services(cluster=cluster, services=chunk).get("services", []))
        return [s for s in services if s.get("status", "ACTIVE") == "ACTIVE"]

    def _tasks(self, cluster: str) -> list[dict[str, Any]]:
        arns: list[str] = []
        for page in self._ecs.get_paginator("list_tasks").paginate(cluster=cluster, desiredStatus="RUNNING"):
            arns.extend(page.get("taskArns", []))
        tasks: list[dict[str, Any]] = []
        for chunk in _chunks(arns, 100):
            tasks.extend(self._ecs.describe_tasks(cluster=cluster, tasks=chunk).get("tasks", []))
        return tasks

    def _instances(self, cluster: str) -> list[str]:
        arns = self._ecs.list_container_instances(cluster=cluster).get("containerInstanceArns", [])
        if not arns:
            return []
        found = self._ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
        return [
            str(ci.get("ec2InstanceId") or ci["containerInstanceArn"])
            for ci in found.get("containerInstances", [])
        ]

    def _cluster(self, described: Mapping[str, Any]) -> ClusterReport:
        arn = str(described["clusterArn"])
        tags = {str(t["key"]): str(t["value"]) for t in described.get("tags") or () if "key" in t}
        decision = decide_ecs(self.runtime, tag_value(tags))
        report = ClusterReport(
            cluster_arn=arn, name=str(described.get("clusterName")), in_scope=decision.monitored, tags=tags
        )
        for service in self._services(arn):
            td = self._task_definition(str(service["taskDefinition"]))
            name = str(service["serviceName"])
            if decision.monitored and not has_sidecar(td, self._sidecar.name):
                new = self._register(inject_sidecar(td, self._sidecar).task_definition)
                self._ecs.update_service(
                    cluster=arn, service=name, taskDefinition=new, forceNewDeployment=True
                )
                report.services_injected.append(name)
                _log.info(
                    "service instrumented", extra={"cluster": arn, "service": name, "task_definition": new}
                )
            elif not decision.monitored and has_sidecar(td, self._sidecar.name):
                new = self._register(remove_sidecar(td, self._sidecar.name))
                self._ecs.update_service(
                    cluster=arn, service=name, taskDefinition=new, forceNewDeployment=True
                )
                report.services_reverted.append(name)
                _log.info("service reverted", extra={"cluster": arn, "service": name, "task_definition": new})
        if decision.monitored:
            for task in self._tasks(arn):
                if not has_sidecar(self._task_definition(str(task["taskDefinitionArn"])), self._sidecar.name):
                    report.uncovered_tasks.append(_task_id(str(task["taskArn"])))
            if report.uncovered_tasks:
                ids = ", ".join(sorted(report.uncovered_tasks))
                report.issues.append(
                    "Agent not provisioned : Tasks started before enabling Runtime Monitoring require a relaunch. "
                    f"Impacted task ID(s): '{ids}'"
                )
        elif decision.excluded_by_tag:
            report.issues.append(decision.issue)
        report.container_instances = self._instances(arn)
        return report

    def run_once(self) -> list[ClusterReport]:
        """One pass over every cluster; returns the reports (and hands them to the reporter)."""
        self._td_cache.clear()
        if self._settings is not None:
            current = self._settings()
            if current is not None:
                self.runtime = current
        arns: list[str] = []
        for page in self._ecs.get_paginator("list_clusters").paginate():
            arns.extend(page.get("clusterArns", []))
        reports: list[ClusterReport] = []
        for chunk in _chunks(arns, 100):
            described = self._ecs.describe_clusters(clusters=chunk, include=["TAGS"]).get("clusters", [])
            reports.extend(self._cluster(c) for c in described)
        if self._reporter is not None:
            ids = sorted({i for r in reports for i in r.container_instances if i.startswith("i-")})
            self._reporter(
                {"clusters": [r.inventory() for r in reports], "instances": self.instance_tags(ids)}
            )
        return reports

    def instance_tags(self, instance_ids: list[str]) -> list[dict[str, Any]]:
        """``[{"instanceId", "tags"}]`` for EC2 instances (empty without an EC2 client)."""
        if self._ec2 is None or not instance_ids:
            return []
        out: list[dict[str, Any]] = []
        for chunk in _chunks(instance_ids, 100):
            for reservation in self._ec2.describe_instances(InstanceIds=chunk).get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    tags = {str(t["Key"]): str(t["Value"]) for t in inst.get("Tags") or () if "Key" in t}
                    out.append({"instanceId": str(inst["InstanceId"]), "tags": tags})
        return out

    def run(self, interval: float, stop: Callable[[], bool]) -> None:
        """Pass after pass until ``stop()``; a failed pass is logged and retried next interval."""
        while not stop():
            try:
                self.run_once()
            except Exception:
                _log.exception("controller pass failed")
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not stop():
                time.sleep(min(0.5, interval))


def run_controller_cli(args: Any) -> int:
    """``rtguard ecs controller``: build the client and settings from ``args`` and run."""
    import json
    import os
    import sys

    import boto3
    import httpx

    from rtguard.ecs.inject import DEFAULT_IMAGE

    token = os.environ.get("RTGUARD_TOKEN", "")
    if not args.server or not (token or args.token_secret_arn):
        print("rtguard ecs controller: needs --server (or RTGUARD_SERVER) and RTGUARD_TOKEN or "
              "--token-secret-arn for the agents", file=sys.stderr)  # fmt: skip
        return 2
    sidecar = SidecarSettings(
        server=args.server,
        token="" if args.token_secret_arn else token,
        token_secret_arn=args.token_secret_arn,
        image=args.image or DEFAULT_IMAGE,
    )
    ecs = boto3.client("ecs", endpoint_url=args.endpoint_url, region_name=args.region)
    ec2 = boto3.client("ec2", endpoint_url=args.endpoint_url, region_name=args.region)

    def report(inventory: dict[str, Any]) -> None:
        if not token:
            return
        try:
            httpx.post(f"{args.server}/agent/v1/inventory", json=inventory,
                       headers={"Authorization": f"Bearer {token}"}, timeout=10).raise_for_status()  # fmt: skip
        except httpx.HTTPError as exc:
            print(f"rtguard ecs controller: could not report to {args.server}: {exc}", file=sys.stderr)

    def from_server() -> RuntimeSettings | None:
        if not token:
            return None
        try:
            resp = httpx.get(f"{args.server}/agent/v1/settings", headers={"Authorization": f"Bearer {token}"},
                             timeout=10)  # fmt: skip
            resp.raise_for_status()
            data = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            print(
                f"rtguard ecs controller: could not read settings from {args.server}: {exc}", file=sys.stderr
            )
            return None
        return RuntimeSettings(
            runtime=bool(data.get("runtimeMonitoring")),
            fargate_auto=bool(data.get("ecsFargateAgentManagement")),
            ec2_auto=bool(data.get("ec2AgentManagement")),
        )

    runtime = RuntimeSettings(runtime=True, fargate_auto=args.auto != "disabled")
    follow = from_server if args.auto == "server" else None
    controller = EcsController(ecs, sidecar, runtime, reporter=report, settings=follow, ec2=ec2)
    if args.once:
        for r in controller.run_once():
            print(json.dumps({"cluster": r.name, "inScope": r.in_scope, "servicesInjected": r.services_injected,
                              "servicesReverted": r.services_reverted, "issues": r.issues}))  # fmt: skip
        return 0
    try:
        controller.run(args.interval, lambda: False)
    except KeyboardInterrupt:
        return 130
    return 0
