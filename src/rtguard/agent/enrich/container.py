"""Container identity from a cgroup path: which runtime, which container, which ECS task or pod.

Pure: a path in, a ``ContainerRef`` or ``None`` out. A container is recognised only by the
layouts that container runtimes and orchestrators actually create (``/docker/<id>``,
``docker-<id>.scope``, ``/ecs/<task>/<id>``, ``ecstasks-<task>.slice``, ``kubepods`` pods,
``cri-containerd-``, ``crio-``, ``libpod-`` scopes, ``/libpod_parent/libpod-<id>``), with a full
64-hex id (or Fargate's ``<32 hex>-<digits>`` under ``/ecs/``). It must never take an id from an
arbitrary hex-looking name: our machines' supervisor puts shells in ``/process_api/<32 hex>``,
and ``/user.slice/...`` sessions are not containers. Cgroup names can be chosen by privileged
processes, so every input is treated as hostile: no I/O, no exceptions, bounded work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "RUNTIMES",
    "ContainerRef",
    "parse_cgroup_path",
]

RUNTIMES: Final = ("docker", "containerd", "cri-o", "podman", "ecs")
"""Values of ``ContainerRef.runtime``. ``ecs`` means the cgroup was named by the ECS agent
(``/ecs/<task>/<id>``, Docker underneath on ECS on EC2, Fargate's runtime on Fargate)."""

_MAX_PATH: Final = 4096
_MAX_DEPTH: Final = 64

_ID: Final = r"[0-9a-f]{64}"
_FARGATE_ID: Final = r"[0-9a-f]{32}-[0-9]{1,10}"
_TASK_ID: Final = r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_POD_UID: Final = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}"

_FULL_ID: Final = re.compile(_ID)
_ECS_CONTAINER: Final = re.compile(rf"{_ID}|{_FARGATE_ID}")
_ECS_TASK: Final = re.compile(_TASK_ID)
_ECS_TASK_SLICE: Final = re.compile(r"ecstasks-([0-9a-f_]{32,36})\.slice")
_POD_SEGMENT: Final = re.compile(
    rf"(?:kubepods-(?:besteffort-|burstable-|guaranteed-)?)?pod({_POD_UID})(?:\.slice)?"
)
_SCOPES: Final = (
    (re.compile(rf"docker-({_ID})\.scope"), "docker"),
    (re.compile(rf"cri-containerd-({_ID})\.scope"), "containerd"),
    (re.compile(rf"nerdctl-({_ID})\.scope"), "containerd"),
    (re.compile(rf"crio-({_ID})\.scope"), "cri-o"),
    (re.compile(rf"libpod-({_ID})\.scope"), "podman"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRef:
    """A container named by a cgroup path.

    ``container_id`` is the runtime's full id (64 hex; on Fargate ``<32 hex>-<digits>``).
    ``ecs_task_id`` is set when the ECS agent named the cgroup (32 hex, or a UUID for tasks
    with old-format ARNs); ``pod_uid`` when the kubelet did (dashed UUID).
    """

    runtime: str
    container_id: str
    ecs_task_id: str = ""
    pod_uid: str = ""
    cgroup: str = ""


def _ecs_task_from_slice(segment: str) -> str:
    match = _ECS_TASK_SLICE.fullmatch(segment)
    if match is None:
        return ""
    task = match.group(1).replace("_", "-")
    return task if _ECS_TASK.fullmatch(task) else ""


def _pod_uid(segments: list[str], below: int) -> str:
    """The pod uid of a kubepods layout above index ``below``, or ``""`` when not kubepods."""
    if not segments or not segments[0].startswith("kubepods"):
        return ""
    for segment in reversed(segments[:below]):
        match = _POD_SEGMENT.fullmatch(segment)
        if match is not None:
            return match.group(1).replace("_", "-")
    return ""


def _match_at(segments: list[str], i: int, path: str) -> ContainerRef | None:
    """Try to read a container from ``segments[i]`` (with its parents as context)."""
    leaf = segments[i]
    parent = segments[i - 1] if i >= 1 else ""
    for pattern, runtime in _SCOPES:
        match = pattern.fullmatch(leaf)
        if match is None:
            continue
        task = _ecs_task_from_slice(parent) if i >= 2 and segments[i - 2] == "ecstasks.slice" else ""
        return ContainerRef(
            runtime=runtime,
            container_id=match.group(1),
            ecs_task_id=task,
            pod_uid=_pod_uid(segments, i),
            cgroup=path,
        )
    # cgroupfs-driver layouts: the leaf is a bare id and its parents say who made it.
    if i == 2 and segments[0] == "ecs" and _ECS_TASK.fullmatch(parent) and _ECS_CONTAINER.fullmatch(leaf):
        return ContainerRef(runtime="ecs", container_id=leaf, ecs_task_id=parent, cgroup=path)
    if not _FULL_ID.fullmatch(leaf):
        if parent == "libpod_parent" and leaf.startswith("libpod-") and _FULL_ID.fullmatch(leaf[7:]):
            return ContainerRef(runtime="podman", container_id=leaf[7:], cgroup=path)
        return None
    if parent == "docker":
        return ContainerRef(runtime="docker", container_id=leaf, cgroup=path)
    pod = _pod_uid(segments, i)
    if pod and _POD_SEGMENT.fullmatch(parent):
        # The cgroupfs kubepods layout does not name the runtime; EKS uses containerd.
        return ContainerRef(runtime="containerd", container_id=leaf, pod_uid=pod, cgroup=path)
    return None


def parse_cgroup_path(path: str) -> ContainerRef | None:
    """Identify the container a cgroup path belongs to.

    The innermost matching segment wins, so a process in a sub-cgroup of a container
    (``/docker/<id>/init``) still resolves to it, and nested containers resolve to the inner
    one. Never raises.

    Args:
        path: a cgroup path as ``/proc/<pid>/cgroup`` shows it (the v1 memory controller's or
            the v2 one), or as the eBPF sensor read it.

    Returns:
        The container, or ``None`` for host processes, unknown layouts and malformed input.
    """
    if not isinstance(path, str) or not path.startswith("/") or len(path) > _MAX_PATH:
        return None
    segments = path[1:].split("/")
    if len(segments) > _MAX_DEPTH or any(s in ("", ".", "..") for s in segments):
        return None  # the kernel prints canonical paths: empty or dot segments are forged
    for i in range(len(segments) - 1, -1, -1):
        ref = _match_at(segments, i, path)
        if ref is not None:
            return ref
    return None
