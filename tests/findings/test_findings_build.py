"""Finding documents: GuardDuty shape, the documented aggregation key, resource kinds."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from rtguard.findings.build import FindingContext, aggregation_key, finding_id, iso_time
from rtguard.findings.build import build_finding as _build
from rtguard.model.events import Container, EcsTask, Event, EventKind, Host, LineageEntry, Process
from rtguard.model.findings import Detection


def build_finding(ctx: FindingContext, det: Detection, *, now_ns: int) -> Any:
    return _build(ctx, det, now_ns=now_ns)


CTX = FindingContext(account_id="123456789012", region="us-east-1", detector_id="d" * 32)
TASK = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"


def _det(container: Container | None = None, artifact: str = "/tmp/xmrig", **kw: Any) -> Detection:
    ev = Event(
        kind=EventKind.PROCESS_EXEC,
        time=1_700_000_000_123_000_000,
        host=Host(hostname="ip-10-0-0-1", instance_id="i-0abc"),
        process=Process(
            exec_id="e2",
            parent_exec_id="e1",
            pid=200,
            ns_pid=7,
            name="xmrig",
            exe_path="/tmp/xmrig",
            exe_sha256="ab" * 32,
            cwd="/",
            uid=0,
            euid=0,
            user_name="root",
            start_time=1_700_000_000_000_000_000,
        ),
        lineage=(LineageEntry(exec_id="e1", pid=100, ns_pid=1, name="sh", exe_path="/bin/sh"),),
        container=container,
    )
    return Detection(
        finding_type="Impact:Runtime/CryptoMinerExecuted",
        event=ev,
        rule_id="RTG-0001",
        artifact=artifact,
        **kw,
    )


def _ecs_container() -> Container:
    return Container(
        id="c" * 64, name="web", image="public.ecr.aws/nginx/nginx:latest",
        ecs=EcsTask(cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/prod", task_arn=TASK,
                    family="web", revision="3", launch_type="EC2"),
    )  # fmt: skip


def test_ecs_finding_shape() -> None:
    doc = build_finding(CTX, _det(_ecs_container()), now_ns=1_700_000_001_000_000_000)
    assert doc["type"] == "Impact:Runtime/CryptoMinerExecuted"
    assert doc["severity"] == 8.0
    assert doc["schemaVersion"] == "2.0"
    res = doc["resource"]
    assert isinstance(res, dict) and res["resourceType"] == "ECSCluster"
    ecs = res["ecsClusterDetails"]
    assert ecs["name"] == "prod"
    task = ecs["taskDetails"]
    assert task["arn"] == TASK
    assert task["definitionArn"].endswith(":task-definition/web:3")
    assert task["containers"][0]["id"] == "c" * 64
    assert task["containers"][0]["imagePrefix"] == "public.ecr.aws"
    svc = doc["service"]
    assert isinstance(svc, dict)
    assert svc["featureName"] == "RuntimeMonitoring" and svc["count"] == 1
    proc = svc["runtimeDetails"]["process"]
    assert proc["executableSha256"] == "ab" * 32
    assert proc["lineage"][0]["uuid"] == "e1" and proc["parentUuid"] == "e1"
    assert svc["eventFirstSeen"] == "2023-11-14T22:13:20.123Z"
    assert json.loads(svc["additionalInfo"]["value"])["ruleId"] == "RTG-0001"
    assert "prod" in str(doc["title"])


def test_host_and_plain_container_resources() -> None:
    host_doc = build_finding(CTX, _det(None), now_ns=0)
    assert host_doc["resource"] == {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0abc"}}
    c_doc = build_finding(CTX, _det(Container(id="f" * 64, runtime="docker")), now_ns=0)
    assert c_doc["resource"]["resourceType"] == "Container"


def test_aggregation_key_same_and_different() -> None:
    a = _det(_ecs_container())
    b = replace(
        a, event=replace(a.event, time=a.event.time + 10**9, process=replace(a.event.process, pid=999))
    )
    assert finding_id(CTX.detector_id, a) == finding_id(CTX.detector_id, b)
    other_artifact = replace(a, artifact="/usr/bin/minerd")
    assert finding_id(CTX.detector_id, a) != finding_id(CTX.detector_id, other_artifact)
    ecs = _ecs_container().ecs
    assert ecs is not None
    other_task = _det(replace(_ecs_container(), ecs=replace(ecs, task_arn=TASK + "x")))
    assert finding_id(CTX.detector_id, a) != finding_id(CTX.detector_id, other_task)
    assert aggregation_key(CTX.detector_id, a).split("|")[1:] == [
        "Impact:Runtime/CryptoMinerExecuted", f"ecs-task:{TASK}", "/tmp/xmrig",
    ]  # fmt: skip
    assert len(finding_id(CTX.detector_id, a)) == 32


def test_context_keeps_only_runtime_context_keys_and_severity_override() -> None:
    det = _det(None, context={"toolName": "nmap", "notAKey": "x"}, severity=2.0)
    doc = build_finding(CTX, det, now_ns=0)
    assert doc["service"]["runtimeDetails"]["context"] == {"toolName": "nmap"}
    assert doc["severity"] == 2.0


def test_iso_time_format() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00.000Z"
