"""ECS context for containers: which task, cluster, container name and image a container id has.

Two sources, one per deployment mode (DESIGN §4.1, §5): ``EcsAgentIntrospection`` reads the ECS
agent's introspection API on an ECS-on-EC2 host (``/v1/metadata``, ``/v1/tasks``), and
``TaskMetadataV4`` reads task metadata endpoint v4 from inside a task
(``${ECS_CONTAINER_METADATA_URI_V4}/task``, sidecar mode). ``EcsResolver`` puts either behind a
TTL cache with a rate-limited refresh on a miss and answers ``lookup(container_id)`` for the
enrichment hot path, plus ``resource_identity()`` for heartbeats. The JSON → data functions are
pure and separate from the HTTP clients. Nothing here may raise into the hot path: network and
shape errors become ``None`` and a counted reason. The clients talk only to the URL they are
given (a link-local or loopback endpoint), with short timeouts, and never follow redirects.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final, Protocol

from rtguard.agent.transport import HttpClient, Transport, TransportError
from rtguard.model.events import Container, EcsTask

__all__ = [
    "DEFAULT_INTROSPECTION_URL",
    "ENV_METADATA_URI_V4",
    "AgentMetadata",
    "EcsAgentIntrospection",
    "EcsContainerInfo",
    "EcsResolver",
    "EcsSource",
    "EcsStats",
    "EcsTaskInfo",
    "ResourceIdentity",
    "TaskMetadataV4",
    "cluster_arn_for",
    "parse_agent_metadata",
    "parse_container_v4",
    "parse_introspection_task",
    "parse_introspection_tasks",
    "parse_task_v4",
    "parse_timestamp_ns",
]

DEFAULT_INTROSPECTION_URL: Final = "http://localhost:51678"
ENV_METADATA_URI_V4: Final = "ECS_CONTAINER_METADATA_URI_V4"
DEFAULT_TIMEOUT_S: Final = 0.5
_MAX_BODY: Final = 8 * 1024 * 1024
_MAX_MISSED: Final = 4096  # container ids remembered as missed once


# ---------------------------------------------------------------------------------------------
# Pure data and JSON parsing


@dataclass(frozen=True, slots=True, kw_only=True)
class EcsContainerInfo:
    """One container of a task, as the ECS agent or task metadata describe it."""

    docker_id: str
    name: str = ""
    docker_name: str = ""
    image: str = ""
    image_id: str = ""
    known_status: str = ""
    created_at: str = ""
    started_at: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EcsTaskInfo:
    """A task: identity, definition, launch type, limits and containers.

    ``cluster`` is what the source said (a short name or an ARN); ``cluster_arn`` is always an
    ARN when one can be built. ``cpu`` is in vCPUs and ``memory`` in MiB (task-level limits,
    task metadata v4 only; ``None`` when not given).
    """

    task_arn: str
    cluster: str = ""
    cluster_arn: str = ""
    family: str = ""
    revision: str = ""
    launch_type: str = ""
    desired_status: str = ""
    known_status: str = ""
    availability_zone: str = ""
    service_name: str = ""
    pull_started_at: str = ""
    cpu: float | None = None
    memory: int | None = None
    containers: tuple[EcsContainerInfo, ...] = ()

    @property
    def task_id(self) -> str:
        """The last component of the task ARN."""
        return self.task_arn.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentMetadata:
    """The ECS agent's ``/v1/metadata``: cluster, container instance ARN, agent version."""

    cluster: str = ""
    container_instance_arn: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceIdentity:
    """What a heartbeat reports about where the agent runs (DESIGN §4.3).

    Host mode fills ``cluster_arn``, ``container_instance_arn`` and ``agent_version``; sidecar
    mode fills ``task_arn``, the task's family and revision, launch type and limits
    (``task_cpu`` in vCPUs, ``task_memory`` in MiB).
    """

    mode: str
    cluster_arn: str = ""
    task_arn: str = ""
    family: str = ""
    revision: str = ""
    launch_type: str = ""
    availability_zone: str = ""
    container_instance_arn: str = ""
    agent_version: str = ""
    task_cpu: float | None = None
    task_memory: int | None = None


def _s(obj: Mapping[str, object], key: str) -> str:
    value = obj.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _num(obj: object, key: str) -> float | None:
    if not isinstance(obj, Mapping):
        return None
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _containers(obj: Mapping[str, object]) -> tuple[EcsContainerInfo, ...]:
    items = obj.get("Containers")
    if not isinstance(items, list):
        return ()
    result: list[EcsContainerInfo] = []
    for item in items:
        if isinstance(item, Mapping) and _s(item, "DockerId"):
            result.append(parse_container_v4(item))
    return tuple(result)


def parse_container_v4(obj: Mapping[str, object]) -> EcsContainerInfo:
    """One container object (the same keys in introspection v1 and task metadata v4)."""
    return EcsContainerInfo(
        docker_id=_s(obj, "DockerId"),
        name=_s(obj, "Name"),
        docker_name=_s(obj, "DockerName"),
        image=_s(obj, "Image"),
        image_id=_s(obj, "ImageID"),
        known_status=_s(obj, "KnownStatus"),
        created_at=_s(obj, "CreatedAt"),
        started_at=_s(obj, "StartedAt"),
    )


def _arn_parts(arn: str) -> tuple[str, str, str] | None:
    """(partition, region, account) of an ARN, or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[3] or not parts[4]:
        return None
    return parts[1], parts[3], parts[4]


def cluster_arn_for(cluster: str, *, like_arn: str) -> str:
    """The cluster ARN for ``cluster`` (a name or an ARN), in the partition, region and account
    of ``like_arn`` (a task or container-instance ARN). ``""`` when neither says enough."""
    if cluster.startswith("arn:"):
        return cluster
    parts = _arn_parts(like_arn)
    if parts is None:
        return ""
    partition, region, account = parts
    if not cluster:
        # New-format task ARNs carry the cluster name: task/<cluster>/<id>.
        resource = like_arn.split(":", 5)[5]
        pieces = resource.split("/")
        if len(pieces) != 3 or pieces[0] != "task":
            return ""
        cluster = pieces[1]
    return f"arn:{partition}:ecs:{region}:{account}:cluster/{cluster}"


def parse_introspection_task(obj: Mapping[str, object], *, cluster: str = "") -> EcsTaskInfo | None:
    """One task of the ECS agent's ``/v1/tasks`` (or ``/v1/tasks?dockerid=``); None if no ARN.

    The introspection API has no cluster, launch type or limits per task: ``cluster`` comes from
    ``/v1/metadata``, and the launch type is ``EC2`` (the API exists only on container instances).
    """
    arn = _s(obj, "Arn")
    if not arn:
        return None
    return EcsTaskInfo(
        task_arn=arn,
        cluster=cluster,
        cluster_arn=cluster_arn_for(cluster, like_arn=arn),
        family=_s(obj, "Family"),
        revision=_s(obj, "Version"),
        launch_type="EC2",
        desired_status=_s(obj, "DesiredStatus"),
        known_status=_s(obj, "KnownStatus"),
        containers=_containers(obj),
    )


def parse_introspection_tasks(obj: object, *, cluster: str = "") -> list[EcsTaskInfo] | None:
    """The ECS agent's ``/v1/tasks`` body ``{"Tasks": [...]}``; None when the shape is wrong."""
    if not isinstance(obj, Mapping):
        return None
    tasks = obj.get("Tasks")
    if tasks is None:
        return []
    if not isinstance(tasks, list):
        return None
    result: list[EcsTaskInfo] = []
    for item in tasks:
        if isinstance(item, Mapping):
            task = parse_introspection_task(item, cluster=cluster)
            if task is not None:
                result.append(task)
    return result


def parse_agent_metadata(obj: object) -> AgentMetadata | None:
    """The ECS agent's ``/v1/metadata`` body; None when the shape is wrong."""
    if not isinstance(obj, Mapping):
        return None
    return AgentMetadata(
        cluster=_s(obj, "Cluster"),
        container_instance_arn=_s(obj, "ContainerInstanceArn"),
        version=_s(obj, "Version"),
    )


def parse_task_v4(obj: object) -> EcsTaskInfo | None:
    """Task metadata v4 ``${ECS_CONTAINER_METADATA_URI_V4}/task``; None without a TaskARN."""
    if not isinstance(obj, Mapping):
        return None
    arn = _s(obj, "TaskARN")
    if not arn:
        return None
    cluster = _s(obj, "Cluster")
    limits = obj.get("Limits")
    memory = _num(limits, "Memory")
    return EcsTaskInfo(
        task_arn=arn,
        cluster=cluster,
        cluster_arn=cluster_arn_for(cluster, like_arn=arn),
        family=_s(obj, "Family"),
        revision=_s(obj, "Revision"),
        launch_type=_s(obj, "LaunchType"),
        desired_status=_s(obj, "DesiredStatus"),
        known_status=_s(obj, "KnownStatus"),
        availability_zone=_s(obj, "AvailabilityZone"),
        service_name=_s(obj, "ServiceName"),
        pull_started_at=_s(obj, "PullStartedAt"),
        cpu=_num(limits, "CPU"),
        memory=int(memory) if memory is not None else None,
        containers=_containers(obj),
    )


def parse_timestamp_ns(text: str) -> int:
    """RFC 3339 time as the ECS agent writes it (up to nanoseconds) → ns since the epoch; 0 if bad."""
    if not text or len(text) > 64:
        return 0
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    frac_ns = 0
    dot = value.find(".")
    if dot >= 0:
        end = dot + 1
        while end < len(value) and value[end].isdigit():
            end += 1
        digits = value[dot + 1 : end]
        if not digits:
            return 0
        frac_ns = int(digits[:9].ljust(9, "0"))
        value = value[:dot] + value[end:]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return 0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp()) * 1_000_000_000 + frac_ns


# ---------------------------------------------------------------------------------------------
# HTTP clients


@dataclass(slots=True)
class EcsStats:
    """Counters of a client or resolver: requests, and errors by reason."""

    requests: int = 0
    refreshes: int = 0
    hits: int = 0
    misses: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, reason: str) -> None:
        """Count one error under ``reason``."""
        self.errors[reason] = self.errors.get(reason, 0) + 1


class _JsonClient:
    """GET JSON with a short timeout; every failure is ``None`` plus a counted reason."""

    def __init__(self, base_url: str, timeout: float, transport: Transport | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.stats = EcsStats()
        self._client: HttpClient | None = None
        try:
            self._client = HttpClient(self.base_url, timeout=timeout, transport=transport)
        except ValueError:
            self.stats.error("bad_url")

    def get(self, path: str, params: Mapping[str, str] | None = None) -> object | None:
        self.stats.requests += 1
        if self._client is None:
            self.stats.error("bad_url")
            return None
        query = "?" + urllib.parse.urlencode(params) if params else ""
        try:
            response = self._client.get(path + query)
        except TransportError as exc:
            self.stats.error("timeout" if exc.reason == "timeout" else "connect")
            return None
        if response.status != 200:
            self.stats.error(f"http_{response.status}")
            return None
        if len(response.body) > _MAX_BODY or response.truncated:
            self.stats.error("too_large")
            return None
        try:
            body: object = response.json()
        except ValueError:
            self.stats.error("bad_json")
            return None
        return body

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class EcsAgentIntrospection:
    """Client of the ECS agent introspection API (host mode on ECS on EC2).

    Args:
        base_url: e.g. ``http://localhost:51678`` (DESIGN §4.1 ``--ecs-agent-uri``).
        timeout: seconds per request (connect and read).
        transport: replaces the network in tests (``rtguard.agent.transport.Transport``).

    Not thread-safe on its own; ``EcsResolver`` serialises its calls.
    """

    mode: Final = "host"

    def __init__(
        self,
        base_url: str = DEFAULT_INTROSPECTION_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: Transport | None = None,
    ) -> None:
        self._http = _JsonClient(base_url, timeout, transport)
        self._metadata: AgentMetadata | None = None

    @property
    def stats(self) -> EcsStats:
        """Request and error counters."""
        return self._http.stats

    def metadata(self) -> AgentMetadata | None:
        """``GET /v1/metadata``; None on any failure."""
        result = parse_agent_metadata(self._http.get("/v1/metadata"))
        if result is not None:
            self._metadata = result
        return result

    def tasks(self) -> list[EcsTaskInfo] | None:
        """``GET /v1/tasks`` (fetching ``/v1/metadata`` first, once, for the cluster)."""
        meta = self._metadata or self.metadata()
        cluster = meta.cluster if meta is not None else ""
        body = self._http.get("/v1/tasks")
        if body is None:
            return None
        tasks = parse_introspection_tasks(body, cluster=cluster)
        if tasks is None:
            self._http.stats.error("bad_shape")
        if tasks and meta is not None and meta.container_instance_arn:
            tasks = [_with_instance_cluster(t, meta) for t in tasks]
        return tasks

    def task_for_container(self, docker_id: str) -> EcsTaskInfo | None:
        """``GET /v1/tasks?dockerid=<id>``; None when unknown or on failure."""
        meta = self._metadata or self.metadata()
        body = self._http.get("/v1/tasks", {"dockerid": docker_id})
        if not isinstance(body, Mapping):
            return None
        task = parse_introspection_task(body, cluster=meta.cluster if meta is not None else "")
        if task is not None and meta is not None and meta.container_instance_arn:
            task = _with_instance_cluster(task, meta)
        return task

    def fetch(self) -> list[EcsTaskInfo] | None:
        """All tasks on this instance (the ``EcsSource`` protocol)."""
        return self.tasks()

    def identity(self) -> ResourceIdentity | None:
        """The container instance: cluster ARN, instance ARN, agent version."""
        meta = self.metadata()
        if meta is None:
            return None
        return ResourceIdentity(
            mode=self.mode,
            cluster_arn=cluster_arn_for(meta.cluster, like_arn=meta.container_instance_arn),
            launch_type="EC2",
            container_instance_arn=meta.container_instance_arn,
            agent_version=meta.version,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()


def _with_instance_cluster(task: EcsTaskInfo, meta: AgentMetadata) -> EcsTaskInfo:
    if task.cluster_arn:
        return task
    return replace(task, cluster_arn=cluster_arn_for(meta.cluster, like_arn=meta.container_instance_arn))


class TaskMetadataV4:
    """Client of task metadata endpoint v4, from inside a task (sidecar mode).

    Args:
        uri: the value of ``ECS_CONTAINER_METADATA_URI_V4`` (per container, no trailing ``/``).
        timeout: seconds per request.
        transport: replaces the network in tests.
    """

    mode: Final = "sidecar"

    def __init__(
        self,
        uri: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: Transport | None = None,
    ) -> None:
        self._http = _JsonClient(uri, timeout, transport)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: Transport | None = None,
    ) -> TaskMetadataV4 | None:
        """A client for ``$ECS_CONTAINER_METADATA_URI_V4``, or None when it is not set."""
        env = os.environ if environ is None else environ
        uri = env.get(ENV_METADATA_URI_V4, "").strip()
        if not uri:
            return None
        return cls(uri, timeout=timeout, transport=transport)

    @property
    def stats(self) -> EcsStats:
        """Request and error counters."""
        return self._http.stats

    def task(self) -> EcsTaskInfo | None:
        """``GET ${uri}/task``; None on any failure."""
        body = self._http.get("/task")
        if body is None:
            return None
        task = parse_task_v4(body)
        if task is None:
            self._http.stats.error("bad_shape")
        return task

    def container(self) -> EcsContainerInfo | None:
        """``GET ${uri}``: the container this URI belongs to; None on any failure."""
        body = self._http.get("")
        if not isinstance(body, Mapping) or not _s(body, "DockerId"):
            return None
        return parse_container_v4(body)

    def fetch(self) -> list[EcsTaskInfo] | None:
        """The one task this sidecar runs in (the ``EcsSource`` protocol)."""
        task = self.task()
        return [task] if task is not None else None

    def identity(self) -> ResourceIdentity | None:
        """The task: cluster and task ARNs, family, revision, launch type and limits."""
        task = self.task()
        if task is None:
            return None
        return ResourceIdentity(
            mode=self.mode,
            cluster_arn=task.cluster_arn,
            task_arn=task.task_arn,
            family=task.family,
            revision=task.revision,
            launch_type=task.launch_type,
            availability_zone=task.availability_zone,
            task_cpu=task.cpu,
            task_memory=task.memory,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()


class EcsSource(Protocol):
    """Where tasks come from: ``EcsAgentIntrospection`` or ``TaskMetadataV4``."""

    @property
    def stats(self) -> EcsStats: ...

    def fetch(self) -> list[EcsTaskInfo] | None: ...

    def identity(self) -> ResourceIdentity | None: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------------------------
# Resolver


def _ecs_task(task: EcsTaskInfo, container: EcsContainerInfo) -> EcsTask:
    started = [c.started_at for c in task.containers if c.started_at]
    return EcsTask(
        cluster_arn=task.cluster_arn or task.cluster,
        task_arn=task.task_arn,
        family=task.family,
        revision=task.revision,
        launch_type=task.launch_type,
        started_at=min(started, key=parse_timestamp_ns) if started else "",
        group=f"service:{task.service_name}" if task.service_name else "",
        container_name=container.name,
    )


class EcsResolver:
    """Container id → ECS task, cached, for the enrichment hot path. Thread-safe.

    The task list is fetched from ``source`` and kept for ``ttl`` seconds. A look-up of an
    unknown id, or after the TTL, refreshes, but not more often than once per
    ``min_refresh_interval``; after a failed refresh the next attempt waits longer (doubling up
    to ``max_backoff``) and the last good answer keeps being served. A refresh is one HTTP call
    bounded by the source's timeout; it happens on the calling thread.

    Args:
        source: ``EcsAgentIntrospection`` (host mode) or ``TaskMetadataV4`` (sidecar mode).
        ttl: seconds a fetched task list stays fresh.
        min_refresh_interval: minimum seconds between two fetches.
        max_backoff: longest wait after repeated failures.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        source: EcsSource,
        *,
        ttl: float = 30.0,
        min_refresh_interval: float = 1.0,
        max_backoff: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl
        self._min_interval = min_refresh_interval
        self._max_backoff = max_backoff
        self._clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[EcsTaskInfo, EcsContainerInfo]] = {}
        self._fetched_at: float | None = None
        self._next_allowed = float("-inf")
        self._failures = 0
        self._missed: OrderedDict[str, None] = OrderedDict()
        self._identity: ResourceIdentity | None = None
        self.stats = EcsStats()

    def lookup(self, container_id: str) -> EcsTask | None:
        """The ECS task of ``container_id`` (with ``container_name`` set), or None. Never raises."""
        found = self._find(container_id)
        return _ecs_task(*found) if found is not None else None

    def container(self, container_id: str, *, runtime: str = "", cgroup: str = "") -> Container | None:
        """A model ``Container`` with name, image, image id, start time and ``ecs`` filled.

        None when the id is not in any task. Never raises.
        """
        found = self._find(container_id)
        if found is None:
            return None
        task, info = found
        return Container(
            id=container_id,
            runtime=runtime,
            name=info.name,
            image=info.image,
            image_id=info.image_id,
            cgroup=cgroup,
            started_at=parse_timestamp_ns(info.started_at),
            ecs=_ecs_task(task, info),
        )

    def tasks(self) -> list[EcsTaskInfo]:
        """The cached tasks (refreshed first when stale)."""
        with self._lock:
            self._maybe_refresh(force=False)
            unique = {task.task_arn: task for task, _ in self._by_id.values()}
        return list(unique.values())

    def resource_identity(self) -> ResourceIdentity | None:
        """Where this agent runs, for heartbeats; cached after the first success. Never raises."""
        with self._lock:
            if self._identity is not None:
                return self._identity
            try:
                self._identity = self._source.identity()
            except Exception:  # a source must not break heartbeats
                self.stats.error("identity")
            return self._identity

    def refresh(self) -> bool:
        """Fetch now (ignoring TTL and rate limit); True on success. Never raises."""
        with self._lock:
            return self._refresh()

    def close(self) -> None:
        """Close the source's connections."""
        self._source.close()

    def _find(self, container_id: str) -> tuple[EcsTaskInfo, EcsContainerInfo] | None:
        if not container_id:
            return None
        with self._lock:
            found = self._by_id.get(container_id)
            stale = self._fetched_at is None or self._clock() - self._fetched_at >= self._ttl
            if found is None or stale:
                self._maybe_refresh(
                    force=found is None, new_id=found is None and self._first_miss(container_id)
                )
                found = self._by_id.get(container_id)
            if found is None:
                self.stats.misses += 1
            else:
                self.stats.hits += 1
            return found

    def _first_miss(self, container_id: str) -> bool:
        """True the first time ``container_id`` is missed (a new container: worth a fetch)."""
        if container_id in self._missed:
            return False
        self._missed[container_id] = None
        if len(self._missed) > _MAX_MISSED:
            self._missed.popitem(last=False)
        return True

    def _maybe_refresh(self, *, force: bool, new_id: bool = False) -> None:
        now = self._clock()
        fresh = self._fetched_at is not None and now - self._fetched_at < self._ttl
        if fresh and not force:
            return
        # A container never seen before may fetch within the rate limit (its task was likely
        # just created), but not while backing off after failures.
        if now < self._next_allowed and not (new_id and self._failures == 0):
            return
        self._refresh()

    def _refresh(self) -> bool:
        now = self._clock()
        self.stats.refreshes += 1
        try:
            tasks = self._source.fetch()
        except Exception:  # a misbehaving source must not reach the hot path
            tasks = None
            self.stats.error("source")
        if tasks is None:
            self._failures += 1
            backoff = min(self._max_backoff, self._min_interval * (2 ** min(self._failures, 16)))
            self._next_allowed = now + backoff
            self.stats.error("fetch")
            return False
        self._failures = 0
        self._next_allowed = now + self._min_interval
        self._fetched_at = now
        self._by_id = {c.docker_id: (t, c) for t in tasks for c in t.containers if c.docker_id}
        return True
