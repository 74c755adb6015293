"""ECS metadata: pure JSON parsing, the two HTTP clients against the fake endpoints, the resolver."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtguard.agent.enrich.ecs import (
    ENV_METADATA_URI_V4,
    EcsAgentIntrospection,
    EcsResolver,
    ResourceIdentity,
    TaskMetadataV4,
    cluster_arn_for,
    parse_agent_metadata,
    parse_introspection_tasks,
    parse_task_v4,
    parse_timestamp_ns,
)
from rtguard.agent.transport import Response
from rtguard.model.events import EcsTask
from rtguard.testing.containers import new_container_id, new_task_id
from rtguard.testing.ecs_fake import FakeEcsContainer, FakeEcsEndpoints, FakeEcsTask

# Shaped like the documented task metadata v4 response of a Fargate task (values are ours).
V4_FARGATE = {
    "Cluster": "arn:aws:ecs:eu-west-1:210987654321:cluster/payments",
    "TaskARN": "arn:aws:ecs:eu-west-1:210987654321:task/payments/4c2b6d7e8f9a4b1c9d0e1f2a3b4c5d6e",
    "Family": "payments-api",
    "Revision": "12",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 0.25, "Memory": 512},
    "PullStartedAt": "2025-03-01T10:00:00.123456789Z",
    "PullStoppedAt": "2025-03-01T10:00:05.5Z",
    "AvailabilityZone": "eu-west-1b",
    "LaunchType": "FARGATE",
    "ServiceName": "payments",
    "Containers": [
        {
            "DockerId": "4c2b6d7e8f9a4b1c9d0e1f2a3b4c5d6e-1234567890",
            "Name": "api",
            "DockerName": "api",
            "Image": "210987654321.dkr.ecr.eu-west-1.amazonaws.com/payments:1.2",
            "ImageID": "sha256:" + "ab" * 32,
            "Labels": {"com.amazonaws.ecs.container-name": "api"},
            "DesiredStatus": "RUNNING",
            "KnownStatus": "RUNNING",
            "Limits": {"CPU": 2},
            "CreatedAt": "2025-03-01T10:00:06.1Z",
            "StartedAt": "2025-03-01T10:00:07.000000001Z",
            "Type": "NORMAL",
        },
        {"Name": "no-docker-id"},
    ],
}

# Shaped like the documented agent introspection output (old-format task ARN, no cluster in it).
V1_TASKS = {
    "Tasks": [
        {
            "Arn": "arn:aws:ecs:us-west-2:111122223333:task/090eff9b-1ce3-4db6-848a-a8d14064fd24",
            "DesiredStatus": "RUNNING",
            "KnownStatus": "RUNNING",
            "Family": "sample-app",
            "Version": "6",
            "Containers": [
                {"DockerId": "a" * 64, "DockerName": "ecs-sample-app-6-web-86caf9", "Name": "web"},
                {"DockerId": "b" * 64, "DockerName": "ecs-sample-app-6-busybox-f2e6", "Name": "busybox"},
            ],
        },
        {"Arn": "", "Containers": []},
        "junk",
    ]
}


class TestPure:
    def test_task_v4_fargate(self) -> None:
        task = parse_task_v4(V4_FARGATE)
        assert task is not None
        assert task.cluster_arn == "arn:aws:ecs:eu-west-1:210987654321:cluster/payments"
        assert task.task_id == "4c2b6d7e8f9a4b1c9d0e1f2a3b4c5d6e"
        assert (task.family, task.revision, task.launch_type) == ("payments-api", "12", "FARGATE")
        assert (task.cpu, task.memory) == (0.25, 512)
        assert (task.availability_zone, task.service_name) == ("eu-west-1b", "payments")
        assert [c.docker_id for c in task.containers] == ["4c2b6d7e8f9a4b1c9d0e1f2a3b4c5d6e-1234567890"]
        assert task.containers[0].image.endswith("payments:1.2")

    def test_task_v4_ec2_short_cluster_name(self) -> None:
        body = dict(V4_FARGATE, Cluster="default", LaunchType="EC2")
        del body["Limits"]
        task = parse_task_v4(body)
        assert task is not None
        assert task.cluster_arn == "arn:aws:ecs:eu-west-1:210987654321:cluster/default"
        assert (task.cpu, task.memory) == (None, None)

    def test_introspection(self) -> None:
        tasks = parse_introspection_tasks(V1_TASKS, cluster="prod")
        assert tasks is not None
        assert len(tasks) == 1
        task = tasks[0]
        assert task.cluster_arn == "arn:aws:ecs:us-west-2:111122223333:cluster/prod"
        assert (task.family, task.revision, task.launch_type) == ("sample-app", "6", "EC2")
        assert [c.name for c in task.containers] == ["web", "busybox"]

    def test_agent_metadata(self) -> None:
        meta = parse_agent_metadata(
            {"Cluster": "prod", "ContainerInstanceArn": None, "Version": "Amazon ECS Agent - v1.77.0"}
        )
        assert meta is not None
        assert (meta.cluster, meta.container_instance_arn) == ("prod", "")

    @pytest.mark.parametrize(
        ("cluster", "like", "expected"),
        [
            (
                "c",
                "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
                "arn:aws:ecs:us-east-1:123456789012:cluster/c",
            ),
            (
                "",
                "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
                "arn:aws:ecs:us-east-1:123456789012:cluster/c",
            ),
            ("", "arn:aws:ecs:us-east-1:123456789012:task/abc", ""),
            ("arn:aws:ecs:x:1:cluster/y", "", "arn:aws:ecs:x:1:cluster/y"),
            ("c", "not-an-arn", ""),
            ("c", "arn:aws-cn:ecs:cn-north-1:1:task/c/a", "arn:aws-cn:ecs:cn-north-1:1:cluster/c"),
        ],
    )
    def test_cluster_arn_for(self, cluster: str, like: str, expected: str) -> None:
        assert cluster_arn_for(cluster, like_arn=like) == expected

    @pytest.mark.parametrize(
        ("text", "ns"),
        [
            ("2020-10-02T00:15:08.062559351Z", 1601597708_062559351),
            ("2020-10-02T00:15:08Z", 1601597708_000000000),
            ("2020-10-02T00:15:08.5Z", 1601597708_500000000),
            ("2020-10-02T02:15:08.25+02:00", 1601597708_250000000),
            ("2020-10-02T00:15:08.1234567891Z", 1601597708_123456789),
            ("", 0),
            ("yesterday", 0),
            ("2020-10-02T00:15:08.Z", 0),
        ],
    )
    def test_timestamps(self, text: str, ns: int) -> None:
        assert parse_timestamp_ns(text) == ns

    @pytest.mark.parametrize(
        "body",
        [
            None,
            [],
            "x",
            {"Tasks": "x"},
            {"Tasks": [1, {"Arn": 5}, {"Arn": "a", "Containers": "x"}]},
            {"TaskARN": ["x"], "Limits": "big"},
            {"TaskARN": "t", "Limits": {"CPU": True, "Memory": "1"}, "Containers": [None, {"DockerId": 3}]},
        ],
    )
    def test_hostile_shapes_never_raise(self, body: object) -> None:
        parse_introspection_tasks(body)
        parse_task_v4(body)
        parse_agent_metadata(body)

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        ["Tasks", "Arn", "TaskARN", "Cluster", "Containers", "DockerId", "Limits", "CPU"]
                    ),
                    inner,
                    max_size=5,
                )
            ),
            max_leaves=20,
        )
    )
    def test_any_json_never_raises(self, body: object) -> None:
        parse_introspection_tasks(body, cluster="c")
        parse_task_v4(body)


@pytest.fixture
def fake() -> Iterator[FakeEcsEndpoints]:
    with FakeEcsEndpoints(cluster="prod") as endpoints:
        yield endpoints


def _task(fake: FakeEcsEndpoints, *names: str, **kwargs: object) -> FakeEcsTask:
    containers = [FakeEcsContainer(docker_id=new_container_id(), name=n) for n in names]
    task = FakeEcsTask(
        cluster="prod",
        task_arn=f"arn:aws:ecs:us-east-1:123456789012:task/prod/{new_task_id()}",
        containers=containers,
        **kwargs,  # type: ignore[arg-type]
    )
    return fake.add_task(task)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestHostMode:
    def test_lookup_and_container(self, fake: FakeEcsEndpoints) -> None:
        task = _task(fake, "web", "log-router", family="shop", revision="3")
        web = task.containers[0]
        resolver = EcsResolver(EcsAgentIntrospection(fake.url))
        found = resolver.lookup(web.docker_id)
        assert found == EcsTask(
            cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/prod",
            task_arn=task.task_arn,
            family="shop",
            revision="3",
            launch_type="EC2",
            started_at=min(c.started_at for c in task.containers),
            container_name="web",
        )
        container = resolver.container(web.docker_id, runtime="ecs", cgroup="/ecs/x/y")
        assert container is not None
        assert (container.id, container.name, container.image, container.image_id) == (
            web.docker_id,
            "web",
            web.image,
            web.image_id,
        )
        assert (container.runtime, container.cgroup) == ("ecs", "/ecs/x/y")
        assert container.started_at == parse_timestamp_ns(web.started_at) > 0
        assert container.ecs == found
        assert resolver.stats.refreshes == 1
        resolver.close()

    def test_unknown_id_refresh_is_rate_limited(self, fake: FakeEcsEndpoints) -> None:
        clock = _Clock()
        resolver = EcsResolver(EcsAgentIntrospection(fake.url), min_refresh_interval=1.0, clock=clock)
        _task(fake, "web")
        unknown = new_container_id()
        for _ in range(50):
            assert resolver.lookup(unknown) is None
        assert fake.request_count("/v1/tasks") == 1
        late = _task(fake, "late")
        # a container id never seen before is worth a fetch at once, within the interval
        found = resolver.lookup(late.containers[0].docker_id)
        assert found is not None
        assert found.container_name == "late"
        assert fake.request_count("/v1/tasks") == 2
        for _ in range(20):  # an id already missed stays rate-limited
            assert resolver.lookup(unknown) is None
        assert fake.request_count("/v1/tasks") == 2
        clock.now += 1.5
        assert resolver.lookup(unknown) is None
        assert fake.request_count("/v1/tasks") == 3
        assert resolver.stats.misses == 71

    def test_ttl_expiry_refreshes_known_ids(self, fake: FakeEcsEndpoints) -> None:
        clock = _Clock()
        task = _task(fake, "web", family="v1fam")
        resolver = EcsResolver(EcsAgentIntrospection(fake.url), ttl=30, clock=clock)
        cid = task.containers[0].docker_id
        assert resolver.lookup(cid) is not None
        task.family = "v2fam"
        clock.now += 10
        assert resolver.lookup(cid).family == "v1fam"  # type: ignore[union-attr]
        clock.now += 25
        assert resolver.lookup(cid).family == "v2fam"  # type: ignore[union-attr]

    def test_failures_serve_stale_and_back_off(self, fake: FakeEcsEndpoints) -> None:
        clock = _Clock()
        task = _task(fake, "web")
        cid = task.containers[0].docker_id
        resolver = EcsResolver(
            EcsAgentIntrospection(fake.url), ttl=5, min_refresh_interval=1, max_backoff=8, clock=clock
        )
        assert resolver.lookup(cid) is not None
        fake.fail_status = 500
        clock.now += 6
        assert resolver.lookup(cid) is not None  # stale but served
        asked = len(fake.requests)
        clock.now += 1.5  # backoff after one failure is 2 s: no new request yet
        assert resolver.lookup(cid) is not None
        assert len(fake.requests) == asked
        clock.now += 1
        resolver.lookup(cid)
        assert len(fake.requests) > asked
        assert resolver.stats.errors["fetch"] == 2
        fake.fail_status = None
        clock.now += 10
        assert resolver.refresh()
        assert resolver.lookup(new_container_id()) is None

    def test_identity(self, fake: FakeEcsEndpoints) -> None:
        resolver = EcsResolver(EcsAgentIntrospection(fake.url))
        ident = resolver.resource_identity()
        assert ident == ResourceIdentity(
            mode="host",
            cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/prod",
            launch_type="EC2",
            container_instance_arn=fake.container_instance_arn,
            agent_version=fake.agent_version,
        )
        assert resolver.resource_identity() is ident  # cached

    def test_task_for_container_full_and_short_id(self, fake: FakeEcsEndpoints) -> None:
        task = _task(fake, "web")
        client = EcsAgentIntrospection(fake.url)
        cid = task.containers[0].docker_id
        for asked in (cid, cid[:12]):
            found = client.task_for_container(asked)
            assert found is not None
            assert found.task_arn == task.task_arn
        assert client.task_for_container(new_container_id()) is None
        assert client.stats.errors == {"http_404": 1}
        client.close()


class TestSidecarMode:
    def test_lookup_and_identity(self, fake: FakeEcsEndpoints) -> None:
        task = _task(
            fake,
            "app",
            "aws-guardduty-agent-T6VH2i",
            launch_type="FARGATE",
            cpu=0.5,
            memory=1024,
            service_name="api",
        )
        source = TaskMetadataV4.from_env(
            {ENV_METADATA_URI_V4: fake.metadata_uri(task, "aws-guardduty-agent-T6VH2i")}
        )
        assert source is not None
        own = source.container()
        assert own is not None
        assert own.name == "aws-guardduty-agent-T6VH2i"
        resolver = EcsResolver(source)
        app = resolver.lookup(task.containers[0].docker_id)
        assert app is not None
        assert (app.container_name, app.launch_type, app.group) == ("app", "FARGATE", "service:api")
        assert app.cluster_arn == task.cluster_arn
        ident = resolver.resource_identity()
        assert ident is not None
        assert (ident.mode, ident.task_arn, ident.cluster_arn) == ("sidecar", task.task_arn, task.cluster_arn)
        assert (ident.task_cpu, ident.task_memory, ident.launch_type) == (0.5, 1024, "FARGATE")
        assert (ident.family, ident.availability_zone) == ("app", "us-east-1a")

    def test_from_env_unset(self) -> None:
        assert TaskMetadataV4.from_env({}) is None
        assert TaskMetadataV4.from_env({ENV_METADATA_URI_V4: "  "}) is None

    def test_unknown_token(self, fake: FakeEcsEndpoints) -> None:
        client = TaskMetadataV4(f"{fake.url}/v4/nope")
        assert client.task() is None
        assert client.container() is None
        assert client.stats.errors == {"http_404": 2}


class TestNeverRaises:
    @pytest.mark.timeout(10)
    def test_timeout(self, fake: FakeEcsEndpoints) -> None:
        fake.delay = 2.0
        client = EcsAgentIntrospection(fake.url, timeout=0.2)
        started = time.monotonic()
        assert client.tasks() is None
        assert time.monotonic() - started < 1.5
        assert client.stats.errors.get("timeout", 0) >= 1

    def test_connection_refused(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        resolver = EcsResolver(EcsAgentIntrospection(f"http://127.0.0.1:{port}", timeout=0.5))
        assert resolver.lookup(new_container_id()) is None
        assert resolver.resource_identity() is None
        assert resolver.stats.errors == {"fetch": 1}

    @pytest.mark.parametrize(
        ("response", "reason"),
        [
            (Response(200, b"{not json"), "bad_json"),
            (Response(302, b""), "http_302"),
            (Response(200, b'{"Tasks": "nope"}'), "bad_shape"),
        ],
    )
    def test_bad_answers(self, response: Response, reason: str) -> None:
        seen: list[str] = []

        def handler(method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> Response:
            seen.append(url)
            if url.endswith("/v1/metadata"):
                return Response(200, b'{"Cluster": "c"}')
            return response

        client = EcsAgentIntrospection("http://127.0.0.1:9", transport=handler)
        assert client.tasks() is None
        assert client.stats.errors == {reason: 1}
        assert all(u.startswith("http://127.0.0.1:9/") for u in seen)  # redirect not followed

    def test_source_that_raises(self) -> None:
        class Broken:
            stats = EcsAgentIntrospection("http://127.0.0.1:9").stats

            def fetch(self) -> None:
                raise RuntimeError("boom")

            def identity(self) -> None:
                raise RuntimeError("boom")

            def close(self) -> None:
                pass

        resolver = EcsResolver(Broken())
        assert resolver.lookup("x") is None
        assert resolver.resource_identity() is None
        assert resolver.stats.errors == {"source": 1, "fetch": 1, "identity": 1}
