"""The ECS controller against moto's server mode (real boto3 ECS calls over HTTP on 127.0.0.1):
services in scope get a sidecar revision and a new deployment, tasks started before are reported
with their ids, excluded clusters are reverted, and the inventory goes to the reporter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from rtguard.coverage.enablement import RuntimeSettings
from rtguard.ecs.controller import EcsController
from rtguard.ecs.inject import SIDECAR_NAME, SidecarSettings, has_sidecar, registrable, task_definition_of

moto_server = pytest.importorskip("moto.server")
EXAMPLE = Path(__file__).with_name("data") / "taskdef-test-nginx.json"  # shared/examples, as is
REGION = "ap-northeast-1"
NET: dict[str, Any] = {}
EC2_IDENTITY: dict[str, Any] = {}
SIDECAR = SidecarSettings(server="http://rtguard.internal:8080", token="tok")


EC2_CLIENT: list[Any] = []


@pytest.fixture
def ecs() -> Iterator[Any]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        kwargs = {"endpoint_url": f"http://{host}:{port}", "region_name": REGION,
                  "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # fmt: skip
        ec2 = boto3.client("ec2", **kwargs)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
        EC2_IDENTITY.update(instanceId=instance["InstanceId"], region=REGION, accountId="123456789012")
        NET["awsvpcConfiguration"] = {
            "subnets": [subnet],
            "securityGroups": [sg],
            "assignPublicIp": "DISABLED",
        }
        EC2_CLIENT[:] = [ec2]
        yield boto3.client("ecs", **kwargs)
    finally:
        server.stop()


def _register_example(ecs: Any) -> str:
    td = registrable(task_definition_of(json.loads(EXAMPLE.read_text())))
    td["containerDefinitions"][0]["memory"] = 256  # moto's run_task sums container memory
    return str(ecs.register_task_definition(**td)["taskDefinition"]["taskDefinitionArn"])


def _cluster(ecs: Any, name: str, tag: str | None) -> str:
    tags = [{"key": "GuardDutyManaged", "value": tag}] if tag is not None else []
    arn = str(ecs.create_cluster(clusterName=name, tags=tags)["cluster"]["clusterArn"])
    return arn


def _service_td(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    svc = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    td: dict[str, Any] = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    return td


def test_injects_services_in_scope_and_reports_old_tasks(ecs: Any) -> None:
    td_arn = _register_example(ecs)
    web = _cluster(ecs, "web", None)
    ecs.create_service(
        cluster=web, serviceName="nginx", taskDefinition=td_arn, desiredCount=1, launchType="FARGATE"
    )
    # moto's RunTask fails on awsvpc (no ENI DNS name): a bridge-mode copy on a container instance
    # stands in for the task started before enablement.
    old_td = registrable(task_definition_of(json.loads(EXAMPLE.read_text())))
    old_td.update(family="old-job", networkMode="bridge", requiresCompatibilities=["EC2"])
    old_td["containerDefinitions"][0]["memory"] = 256
    old_arn = ecs.register_task_definition(**old_td)["taskDefinition"]["taskDefinitionArn"]
    ecs.register_container_instance(cluster=web, instanceIdentityDocument=json.dumps(EC2_IDENTITY))
    old_task = ecs.run_task(cluster=web, taskDefinition=old_arn, count=1, launchType="EC2")["tasks"][0][
        "taskArn"
    ]
    reports: list[dict[str, Any]] = []
    controller = EcsController(
        ecs, SIDECAR, RuntimeSettings(runtime=True, fargate_auto=True), reporter=reports.append
    )

    first = controller.run_once()
    assert [(r.name, r.in_scope, r.services_injected) for r in first] == [("web", True, ["nginx"])]
    td = _service_td(ecs, web, "nginx")
    assert td["revision"] == 2 and has_sidecar(td)
    side = next(c for c in td["containerDefinitions"] if c["name"] == SIDECAR_NAME)
    assert side["essential"] is False
    assert old_task.rsplit("/", 1)[-1] in first[0].uncovered_tasks
    assert "Tasks started before enabling Runtime Monitoring require a relaunch" in first[0].issues[0]
    assert reports[-1]["clusters"][0]["clusterArn"] == web
    assert reports[-1]["clusters"][0]["issues"] == first[0].issues
    assert reports[-1]["clusters"][0]["containerInstances"] == [EC2_IDENTITY["instanceId"]]

    second = controller.run_once()  # idempotent: nothing new to inject
    assert second[0].services_injected == []
    assert _service_td(ecs, web, "nginx")["revision"] == 2


def test_tags_decide_scope_and_exclusion_reverts(ecs: Any) -> None:
    td_arn = _register_example(ecs)
    included = _cluster(ecs, "included", "true")
    excluded = _cluster(ecs, "excluded", "false")
    plain = _cluster(ecs, "plain", None)
    for cluster in (included, excluded, plain):
        ecs.create_service(
            cluster=cluster, serviceName="svc", taskDefinition=td_arn, desiredCount=1, launchType="FARGATE"
        )
    controller = EcsController(ecs, SIDECAR, RuntimeSettings(runtime=True, fargate_auto=False))
    by_name = {r.name: r for r in controller.run_once()}
    assert by_name["included"].in_scope and by_name["included"].services_injected == ["svc"]
    assert not by_name["plain"].in_scope and by_name["plain"].services_injected == []
    assert not by_name["excluded"].in_scope
    assert "exclusion tag" in by_name["excluded"].issues[0]
    assert has_sidecar(_service_td(ecs, included, "svc"))
    assert not has_sidecar(_service_td(ecs, plain, "svc"))

    # excluding the cluster later reverts its services to a revision without the agent
    ecs.tag_resource(resourceArn=included, tags=[{"key": "GuardDutyManaged", "value": "false"}])
    again = {r.name: r for r in controller.run_once()}
    assert again["included"].services_reverted == ["svc"]
    reverted = _service_td(ecs, included, "svc")
    assert not has_sidecar(reverted) and reverted["revision"] > 2


def test_switches_follow_the_server_between_passes(ecs: Any) -> None:
    td_arn = _register_example(ecs)
    plain = _cluster(ecs, "follow", None)
    ecs.create_service(
        cluster=plain, serviceName="svc", taskDefinition=td_arn, desiredCount=1, launchType="FARGATE"
    )
    answers: list[RuntimeSettings | None] = [
        RuntimeSettings(runtime=True, fargate_auto=False),
        None,  # the server could not be asked: keep the last switches
        RuntimeSettings(runtime=True, fargate_auto=True),
    ]
    controller = EcsController(
        ecs, SIDECAR, RuntimeSettings(runtime=True, fargate_auto=True), settings=lambda: answers.pop(0)
    )
    first = {r.name: r for r in controller.run_once()}
    assert not first["follow"].in_scope and not has_sidecar(_service_td(ecs, plain, "svc"))
    second = {r.name: r for r in controller.run_once()}
    assert not second["follow"].in_scope
    third = {r.name: r for r in controller.run_once()}
    assert third["follow"].in_scope and third["follow"].services_injected == ["svc"]
    assert has_sidecar(_service_td(ecs, plain, "svc"))


def test_container_instance_tags_are_reported(ecs: Any) -> None:
    cluster = _cluster(ecs, "hosts", None)
    ec2 = EC2_CLIENT[0]
    ec2.create_tags(
        Resources=[EC2_IDENTITY["instanceId"]], Tags=[{"Key": "GuardDutyManaged", "Value": "false"}]
    )
    ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=json.dumps(EC2_IDENTITY))
    reports: list[dict[str, Any]] = []
    controller = EcsController(
        ecs, SIDECAR, RuntimeSettings(runtime=True, ec2_auto=True), reporter=reports.append, ec2=ec2
    )
    controller.run_once()
    # moto keeps state per process, so other tests' instances may be listed too
    mine = [i for i in reports[-1]["instances"] if i["instanceId"] == EC2_IDENTITY["instanceId"]]
    assert mine == [{"instanceId": EC2_IDENTITY["instanceId"], "tags": {"GuardDutyManaged": "false"}}]
