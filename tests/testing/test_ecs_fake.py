"""The fake ECS endpoints answer in the documented shapes and can be changed and broken on purpose."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rtguard.testing.containers import new_container_id, new_task_id
from rtguard.testing.ecs_fake import (
    ACCOUNT_ID,
    REGION,
    FakeEcsContainer,
    FakeEcsEndpoints,
    FakeEcsTask,
    task_arn,
)

# Key sets from the ECS documentation (introspection: "Amazon ECS container introspection";
# v4: "Amazon ECS task metadata v4 JSON response").
V1_TASK_KEYS = {"Arn", "DesiredStatus", "KnownStatus", "Family", "Version", "Containers"}
V1_CONTAINER_KEYS = {"DockerId", "DockerName", "Name"}
V4_TASK_KEYS = {"Cluster", "TaskARN", "Family", "Revision", "DesiredStatus", "KnownStatus", "Containers"}
V4_CONTAINER_KEYS = {
    "DockerId",
    "Name",
    "DockerName",
    "Image",
    "ImageID",
    "Labels",
    "DesiredStatus",
    "KnownStatus",
    "Limits",
    "CreatedAt",
    "StartedAt",
    "Type",
}


@pytest.fixture
def fake() -> Iterator[FakeEcsEndpoints]:
    with FakeEcsEndpoints(cluster="prod") as endpoints:
        yield endpoints


@pytest.fixture
def task(fake: FakeEcsEndpoints) -> FakeEcsTask:
    return fake.add_task(
        FakeEcsTask(
            cluster="prod",
            family="shop",
            revision="4",
            containers=[
                FakeEcsContainer(docker_id=new_container_id(), name="web", ipv4="10.213.1.2"),
                FakeEcsContainer(docker_id=new_container_id(), name="sidecar"),
            ],
            cpu=0.25,
            memory=512,
        )
    )


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=2.0, trust_env=False)


def test_listens_on_loopback_only(fake: FakeEcsEndpoints) -> None:
    assert fake.url.startswith("http://127.0.0.1:")


def test_arn_format() -> None:
    tid = new_task_id()
    assert task_arn("c", tid) == f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/c/{tid}"
    t = FakeEcsTask(cluster="c")
    assert t.task_arn.startswith("arn:aws:ecs:us-east-1:123456789012:task/c/")
    assert len(t.task_id) == 32
    assert t.cluster_arn == "arn:aws:ecs:us-east-1:123456789012:cluster/c"


def test_v1_metadata(fake: FakeEcsEndpoints) -> None:
    body = _get(f"{fake.url}/v1/metadata").json()
    assert body["Cluster"] == "prod"
    assert body["ContainerInstanceArn"].startswith(
        f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container-instance/prod/"
    )
    assert body["Version"].startswith("Amazon ECS Agent - v")


def test_v1_tasks(fake: FakeEcsEndpoints, task: FakeEcsTask) -> None:
    body = _get(f"{fake.url}/v1/tasks").json()
    assert list(body) == ["Tasks"]
    (t,) = body["Tasks"]
    assert set(t) >= V1_TASK_KEYS
    assert (t["Arn"], t["Family"], t["Version"]) == (task.task_arn, "shop", "4")
    assert all(set(c) >= V1_CONTAINER_KEYS for c in t["Containers"])
    assert [c["DockerId"] for c in t["Containers"]] == [c.docker_id for c in task.containers]
    assert t["Containers"][0]["DockerName"].startswith("ecs-shop-4-web-")
    assert t["Containers"][0]["Networks"] == [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.213.1.2"]}]


def test_v1_task_queries(fake: FakeEcsEndpoints, task: FakeEcsTask) -> None:
    cid = task.containers[1].docker_id
    for query in (f"dockerid={cid}", f"dockerid={cid[:12]}", f"taskarn={task.task_arn}"):
        response = _get(f"{fake.url}/v1/tasks?{query}")
        assert response.status_code == 200
        assert response.json()["Arn"] == task.task_arn
    missing = _get(f"{fake.url}/v1/tasks?dockerid={new_container_id()}")
    assert missing.status_code == 404
    assert missing.json()["Arn"] == ""
    both = _get(f"{fake.url}/v1/tasks?dockerid={cid}&taskarn={task.task_arn}")
    assert both.status_code == 400


def test_v4_container_and_task(fake: FakeEcsEndpoints, task: FakeEcsTask) -> None:
    uri = fake.metadata_uri(task, "sidecar")
    own = _get(uri).json()
    assert set(own) >= V4_CONTAINER_KEYS
    assert own["DockerId"] == task.containers[1].docker_id
    assert own["Labels"]["com.amazonaws.ecs.task-arn"] == task.task_arn
    assert own["Labels"]["com.amazonaws.ecs.container-name"] == "sidecar"
    body = _get(f"{uri}/task").json()
    assert set(body) >= V4_TASK_KEYS
    assert (body["Cluster"], body["TaskARN"], body["Revision"], body["LaunchType"]) == (
        "prod",
        task.task_arn,
        "4",
        "EC2",
    )
    assert body["Limits"] == {"CPU": 0.25, "Memory": 512}
    assert [c["Name"] for c in body["Containers"]] == ["web", "sidecar"]
    assert all(set(c) >= V4_CONTAINER_KEYS for c in body["Containers"])
    assert _get(f"{fake.url}/v4/unknown/task").status_code == 404
    assert _get(f"{uri}/stats").status_code == 404
    with pytest.raises(KeyError):
        fake.metadata_uri(task, "nope")


def test_fargate_cluster_is_an_arn_and_limits_omitted_when_unset(fake: FakeEcsEndpoints) -> None:
    t = fake.add_task(
        FakeEcsTask(
            cluster="prod",
            launch_type="FARGATE",
            containers=[FakeEcsContainer(docker_id=new_container_id(), name="a")],
        )
    )
    body = _get(f"{fake.metadata_uri(t, 'a')}/task").json()
    assert body["Cluster"] == "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
    assert "Limits" not in body


def test_registry_is_live(fake: FakeEcsEndpoints, task: FakeEcsTask) -> None:
    task.known_status = "STOPPED"
    extra = fake.add_task(FakeEcsTask(cluster="prod"))
    body = _get(f"{fake.url}/v1/tasks").json()
    assert {t["Arn"]: t["KnownStatus"] for t in body["Tasks"]} == {
        task.task_arn: "STOPPED",
        extra.task_arn: "RUNNING",
    }
    fake.remove_task(task.task_arn)
    assert [t.task_arn for t in fake.tasks()] == [extra.task_arn]
    assert fake.request_count("/v1/tasks") == 1


def test_injected_failure(fake: FakeEcsEndpoints, task: FakeEcsTask) -> None:
    fake.fail_status = 503
    assert _get(f"{fake.url}/v1/tasks").status_code == 503
    fake.fail_status = None
    assert _get(f"{fake.url}/v1/tasks").status_code == 200
    assert _get(f"{fake.url}/nope").status_code == 404


def test_close_is_idempotent_and_frees_the_port() -> None:
    endpoints = FakeEcsEndpoints().start()
    url = endpoints.url
    endpoints.close()
    endpoints.close()
    with pytest.raises(httpx.ConnectError):
        _get(f"{url}/v1/metadata")
    with pytest.raises(RuntimeError):
        _ = endpoints.url
