"""Fake ECS endpoints for tests and the demo: agent introspection and task metadata v4.

``FakeEcsEndpoints`` is a small HTTP server on ``127.0.0.1`` (ephemeral port, background
thread) that answers, in the documented JSON shapes, the ECS agent introspection API
(``/v1/metadata``, ``/v1/tasks``, ``/v1/tasks?dockerid=``, ``/v1/tasks?taskarn=``) and task
metadata endpoint v4 (``/v4/<token>`` for one container, ``/v4/<token>/task`` for its task),
from a registry of ``FakeEcsTask`` objects that tests can change while it runs. It can also
fail on purpose (status code, delay) to test clients' error handling. ARNs use account
``123456789012`` in ``us-east-1``. It listens on loopback only and must never be used by
production code.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final, Self
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "ACCOUNT_ID",
    "REGION",
    "FakeEcsContainer",
    "FakeEcsEndpoints",
    "FakeEcsTask",
    "task_arn",
]

ACCOUNT_ID: Final = "123456789012"
REGION: Final = "us-east-1"
_AGENT_VERSION: Final = "Amazon ECS Agent - v1.77.0 (rtguard-fake)"
_SHORT_ID_LEN: Final = 12


def task_arn(cluster: str, task_id: str) -> str:
    """``arn:aws:ecs:us-east-1:123456789012:task/<cluster>/<task_id>``."""
    return f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/{cluster}/{task_id}"


def _cluster_arn(cluster: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{cluster}"


def _now_rfc3339() -> str:
    ns = time.time_ns()
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"
    )


@dataclass(kw_only=True)
class FakeEcsContainer:
    """One container of a fake task; ``docker_id`` is what the cgroup path ends with."""

    docker_id: str
    name: str
    image: str = "public.ecr.aws/docker/library/busybox:latest"
    image_id: str = ""
    docker_name: str = ""
    known_status: str = "RUNNING"
    desired_status: str = "RUNNING"
    created_at: str = field(default_factory=_now_rfc3339)
    started_at: str = field(default_factory=_now_rfc3339)
    cpu: int = 0
    memory: int = 0
    ipv4: str = ""
    token: str = field(default_factory=lambda: os.urandom(8).hex())

    def __post_init__(self) -> None:
        if not self.image_id:
            self.image_id = "sha256:" + os.urandom(32).hex()


@dataclass(kw_only=True)
class FakeEcsTask:
    """A fake task. ``task_arn`` defaults to a new-format ARN in ``cluster`` with a fresh id.

    ``cpu`` (vCPUs) and ``memory`` (MiB) are the task-level limits task metadata v4 reports.
    """

    cluster: str = "default"
    task_arn: str = ""
    family: str = "app"
    revision: str = "1"
    launch_type: str = "EC2"
    containers: list[FakeEcsContainer] = field(default_factory=list)
    cpu: float | None = None
    memory: int | None = None
    desired_status: str = "RUNNING"
    known_status: str = "RUNNING"
    availability_zone: str = "us-east-1a"
    service_name: str = ""
    pull_started_at: str = field(default_factory=_now_rfc3339)

    def __post_init__(self) -> None:
        if not self.task_arn:
            self.task_arn = task_arn(self.cluster, os.urandom(16).hex())
        for container in self.containers:
            if not container.docker_name:
                container.docker_name = (
                    f"ecs-{self.family}-{self.revision}-{container.name}-{os.urandom(8).hex()}"
                )

    @property
    def task_id(self) -> str:
        """The last component of the task ARN."""
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def cluster_arn(self) -> str:
        """The cluster's ARN."""
        return _cluster_arn(self.cluster)

    # -- documented JSON shapes -------------------------------------------------------------

    def _container_common(self, c: FakeEcsContainer) -> dict[str, object]:
        return {
            "DockerId": c.docker_id,
            "DockerName": c.docker_name,
            "Name": c.name,
            "Image": c.image,
            "ImageID": c.image_id,
            "CreatedAt": c.created_at,
            "StartedAt": c.started_at,
        }

    def introspection_json(self) -> dict[str, object]:
        """One element of the ECS agent's ``/v1/tasks`` ``Tasks`` list."""
        containers: list[dict[str, object]] = []
        for c in self.containers:
            item = self._container_common(c)
            if c.ipv4:
                item["Networks"] = [{"NetworkMode": "awsvpc", "IPv4Addresses": [c.ipv4]}]
            containers.append(item)
        return {
            "Arn": self.task_arn,
            "DesiredStatus": self.desired_status,
            "KnownStatus": self.known_status,
            "Family": self.family,
            "Version": self.revision,
            "Containers": containers,
        }

    def container_v4_json(self, c: FakeEcsContainer) -> dict[str, object]:
        """Task metadata v4 for one container (``${ECS_CONTAINER_METADATA_URI_V4}``)."""
        item = self._container_common(c)
        item.update(
            {
                "Labels": {
                    "com.amazonaws.ecs.cluster": self.cluster
                    if self.launch_type != "FARGATE"
                    else self.cluster_arn,
                    "com.amazonaws.ecs.container-name": c.name,
                    "com.amazonaws.ecs.task-arn": self.task_arn,
                    "com.amazonaws.ecs.task-definition-family": self.family,
                    "com.amazonaws.ecs.task-definition-version": self.revision,
                },
                "DesiredStatus": c.desired_status,
                "KnownStatus": c.known_status,
                "Limits": {"CPU": c.cpu, "Memory": c.memory},
                "Type": "NORMAL",
                "ContainerARN": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container/{self.cluster}/"
                f"{self.task_id}/{c.token}",
            }
        )
        if c.ipv4:
            item["Networks"] = [{"NetworkMode": "awsvpc", "IPv4Addresses": [c.ipv4]}]
        return item

    def task_v4_json(self) -> dict[str, object]:
        """Task metadata v4 for the task (``${ECS_CONTAINER_METADATA_URI_V4}/task``).

        ``Cluster`` is the ARN on Fargate and the short name on EC2, as in the documented
        examples.
        """
        body: dict[str, object] = {
            "Cluster": self.cluster_arn if self.launch_type == "FARGATE" else self.cluster,
            "TaskARN": self.task_arn,
            "Family": self.family,
            "Revision": self.revision,
            "DesiredStatus": self.desired_status,
            "KnownStatus": self.known_status,
            "Containers": [self.container_v4_json(c) for c in self.containers],
            "PullStartedAt": self.pull_started_at,
            "PullStoppedAt": self.pull_started_at,
            "AvailabilityZone": self.availability_zone,
            "LaunchType": self.launch_type,
        }
        limits: dict[str, object] = {}
        if self.cpu is not None:
            limits["CPU"] = self.cpu
        if self.memory is not None:
            limits["Memory"] = self.memory
        if limits:
            body["Limits"] = limits
        if self.service_name:
            body["ServiceName"] = self.service_name
        return body


_EMPTY_TASK: Final = {"Arn": "", "KnownStatus": "", "Family": "", "Version": "", "Containers": None}


class FakeEcsEndpoints:
    """The fake ECS agent and task metadata server. Thread-safe registry; use ``with``.

    Args:
        cluster: the container instance's cluster (``/v1/metadata``).
        agent_version: the ``Version`` string ``/v1/metadata`` reports.

    Attributes:
        fail_status: when set, every request gets this HTTP status (to test error handling).
        delay: seconds to sleep before answering (to test client timeouts).
        requests: the paths (with query) asked so far, in order.
    """

    def __init__(self, *, cluster: str = "default", agent_version: str = _AGENT_VERSION) -> None:
        self.cluster = cluster
        self.agent_version = agent_version
        self.container_instance_arn = (
            f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container-instance/{cluster}/{os.urandom(16).hex()}"
        )
        self.fail_status: int | None = None
        self.delay = 0.0
        self.requests: list[str] = []
        self._tasks: dict[str, FakeEcsTask] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- registry ---------------------------------------------------------------------------

    def add_task(self, task: FakeEcsTask) -> FakeEcsTask:
        """Register (or replace) a task; returns it."""
        with self._lock:
            self._tasks[task.task_arn] = task
        return task

    def remove_task(self, arn: str) -> None:
        """Forget a task."""
        with self._lock:
            self._tasks.pop(arn, None)

    def tasks(self) -> list[FakeEcsTask]:
        """The registered tasks."""
        with self._lock:
            return list(self._tasks.values())

    def request_count(self, path_prefix: str) -> int:
        """How many requests so far started with ``path_prefix``."""
        with self._lock:
            return sum(1 for r in self.requests if r.startswith(path_prefix))

    # -- addresses --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the introspection base URL."""
        if self._server is None:
            raise RuntimeError("FakeEcsEndpoints is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def metadata_uri(self, task: FakeEcsTask, container_name: str) -> str:
        """The ``ECS_CONTAINER_METADATA_URI_V4`` value for one container of ``task``."""
        for c in task.containers:
            if c.name == container_name:
                return f"{self.url}/v4/{c.token}"
        raise KeyError(f"no container {container_name!r} in {task.task_arn}")

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> Self:
        """Listen on 127.0.0.1 (ephemeral port) in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-ecs", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the socket. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- answers (called from handler threads) ----------------------------------------------

    def _answer(self, raw_path: str) -> tuple[int, object]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append(raw_path)
            tasks = list(self._tasks.values())
        if path == "/v1/metadata":
            return HTTPStatus.OK, {
                "Cluster": self.cluster,
                "ContainerInstanceArn": self.container_instance_arn,
                "Version": self.agent_version,
            }
        if path == "/v1/tasks":
            return self._introspection_tasks(tasks, query)
        if path.startswith("/v4/"):
            return self._task_metadata(tasks, path[len("/v4/") :])
        return HTTPStatus.NOT_FOUND, {"error": f"no such path: {path}"}

    @staticmethod
    def _introspection_tasks(tasks: list[FakeEcsTask], query: dict[str, list[str]]) -> tuple[int, object]:
        docker_ids, arns = query.get("dockerid"), query.get("taskarn")
        if docker_ids and arns:
            return HTTPStatus.BAD_REQUEST, _EMPTY_TASK
        if docker_ids:
            wanted = docker_ids[0]
            for task in tasks:
                for c in task.containers:
                    full = c.docker_id == wanted
                    short = len(wanted) == _SHORT_ID_LEN and c.docker_id.startswith(wanted)
                    if full or short:
                        return HTTPStatus.OK, task.introspection_json()
            return HTTPStatus.NOT_FOUND, _EMPTY_TASK
        if arns:
            for task in tasks:
                if task.task_arn == arns[0]:
                    return HTTPStatus.OK, task.introspection_json()
            return HTTPStatus.NOT_FOUND, _EMPTY_TASK
        return HTTPStatus.OK, {"Tasks": [t.introspection_json() for t in tasks]}

    @staticmethod
    def _task_metadata(tasks: list[FakeEcsTask], rest: str) -> tuple[int, object]:
        token, _, sub = rest.partition("/")
        for task in tasks:
            for c in task.containers:
                if c.token != token:
                    continue
                if sub == "":
                    return HTTPStatus.OK, task.container_v4_json(c)
                if sub == "task":
                    return HTTPStatus.OK, task.task_v4_json()
                return HTTPStatus.NOT_FOUND, {"error": f"unsupported v4 path: {sub}"}
        return HTTPStatus.NOT_FOUND, {"error": "unknown metadata token"}


class _Server(ThreadingHTTPServer):
    owner: FakeEcsEndpoints


class _Handler(BaseHTTPRequestHandler):
    server_version = "rtguard-fake-ecs"

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        owner = server.owner
        if owner.delay > 0:
            time.sleep(owner.delay)
        if owner.fail_status is not None:
            with owner._lock:
                owner.requests.append(self.path)
            self._send(owner.fail_status, {"error": "injected failure"})
            return
        status, body = owner._answer(self.path)
        self._send(status, body)

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr access log."""
