"""Sidecar injection: an ECS task definition in, the same task definition with the rtguard agent
as a sidecar container out, ready for ``register-task-definition``.

The sidecar can never stop the task: it is not essential and no container depends on it. It runs
with ``pidMode: task`` (so it sees every process of the task), all capabilities dropped except
``SYS_PTRACE``, a hard memory limit from our budget (64 MiB) or GuardDuty's table, and the task's
memory is raised to the next valid Fargate size only when the containers' reservations plus the
sidecar would not fit. The server address comes from the settings; the agent token either as a
plain environment value or, better, as a Secrets Manager ARN the execution role resolves.

Pure: dict in, dict out, no I/O and no boto3 (the CLI and the controller do that). Must not
change anything of the application containers except removing a ``dependsOn`` on the sidecar.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from rtguard import __version__
from rtguard.ecs.requirements import (
    AGENT_CAPABILITIES,
    RTGUARD_AGENT_MEMORY_MIB,
    guardduty_agent_memory,
    next_valid_size,
)

__all__ = [
    "DEFAULT_IMAGE",
    "SIDECAR_NAME",
    "InjectError",
    "Injection",
    "MemoryPolicy",
    "SidecarSettings",
    "has_sidecar",
    "inject_sidecar",
    "registrable",
    "remove_sidecar",
    "task_definition_of",
]

SIDECAR_NAME: Final = "rtguard-agent"
DEFAULT_IMAGE: Final = f"ghcr.io/rtguard/rtguard-agent:{__version__}"
SPOOL_DIR: Final = "/tmp/rtguard-spool"
# describe-task-definition output fields that register-task-definition does not accept.
_READ_ONLY: Final = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)


class InjectError(ValueError):
    """The task definition or the settings cannot produce a valid injected task definition."""


class MemoryPolicy(StrEnum):
    """Where the sidecar's memory limit comes from."""

    RTGUARD = "rtguard"  # our measured budget, never more than GuardDuty's table
    GUARDDUTY = "guardduty"  # GuardDuty's table (reference §5)


@dataclass(frozen=True, slots=True, kw_only=True)
class SidecarSettings:
    """How to build the sidecar.

    Exactly one of ``token`` (put in the environment, visible to anyone who can describe the task
    definition) and ``token_secret_arn`` (a Secrets Manager or SSM parameter ARN) must be set.
    ``memory_mib`` overrides the policy when given.
    """

    server: str
    token: str = ""
    token_secret_arn: str = ""
    image: str = DEFAULT_IMAGE
    memory_policy: MemoryPolicy = MemoryPolicy.RTGUARD
    memory_mib: int | None = None
    name: str = SIDECAR_NAME


@dataclass(frozen=True, slots=True, kw_only=True)
class Injection:
    """The result: the new task definition and what was changed, in words."""

    task_definition: dict[str, Any]
    sidecar_memory: int
    task_memory_before: int | None
    task_memory_after: int | None
    notes: tuple[str, ...]


def task_definition_of(document: Mapping[str, Any]) -> dict[str, Any]:
    """The task definition from a file: either the bare definition or describe's
    ``{"taskDefinition": {...}, "tags": [...]}`` (its tags are kept)."""
    inner = document.get("taskDefinition")
    if isinstance(inner, Mapping):
        td = copy.deepcopy(dict(inner))
        tags = document.get("tags")
        if isinstance(tags, list) and tags and not td.get("tags"):
            td["tags"] = copy.deepcopy(tags)
        return td
    return copy.deepcopy(dict(document))


def registrable(td: Mapping[str, Any]) -> dict[str, Any]:
    """``td`` without the read-only fields describe returns, so it can be registered as is."""
    out = {k: copy.deepcopy(v) for k, v in td.items() if k not in _READ_ONLY}
    if not out.get("tags"):
        out.pop("tags", None)
    return out


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _containers(td: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = td.get("containerDefinitions")
    if not isinstance(raw, list) or not raw or not all(isinstance(c, dict) for c in raw):
        raise InjectError("the task definition has no containerDefinitions list")
    return raw


def has_sidecar(td: Mapping[str, Any], name: str = SIDECAR_NAME) -> bool:
    """True when the task definition already carries the agent sidecar."""
    raw = td.get("containerDefinitions")
    return isinstance(raw, list) and any(isinstance(c, dict) and c.get("name") == name for c in raw)


def _reserved(container: Mapping[str, Any]) -> int:
    return _int(container.get("memoryReservation")) or _int(container.get("memory")) or 0


def _log_configuration(apps: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    # Reuse the first awslogs configuration so the agent's log sits next to the app's.
    for c in apps:
        conf = c.get("logConfiguration")
        if isinstance(conf, dict) and conf.get("logDriver") == "awslogs":
            options = dict(conf.get("options") or {})
            options["awslogs-stream-prefix"] = name
            return {"logDriver": "awslogs", "options": options}
    return None


def _sidecar(settings: SidecarSettings, memory: int, apps: list[dict[str, Any]]) -> dict[str, Any]:
    environment = [
        {"name": "RTGUARD_SERVER", "value": settings.server},
        {"name": "RTGUARD_SPOOL_DIR", "value": SPOOL_DIR},
    ]
    container: dict[str, Any] = {
        "name": settings.name,
        "image": settings.image,
        "essential": False,
        "cpu": 0,
        "memory": memory,
        "command": ["agent"],
        "environment": environment,
        "linuxParameters": {
            "capabilities": {"add": list(AGENT_CAPABILITIES), "drop": ["ALL"]},
            "initProcessEnabled": True,
        },
        "dockerLabels": {"rtguard.managed": "true"},
    }
    if settings.token_secret_arn:
        container["secrets"] = [{"name": "RTGUARD_TOKEN", "valueFrom": settings.token_secret_arn}]
    else:
        environment.append({"name": "RTGUARD_TOKEN", "value": settings.token})
    logs = _log_configuration(apps, settings.name)
    if logs is not None:
        container["logConfiguration"] = logs
    return container


def _check_settings(settings: SidecarSettings) -> None:
    if not settings.server:
        raise InjectError("the server address is required (--server URL or RTGUARD_SERVER)")
    if bool(settings.token) == bool(settings.token_secret_arn):
        raise InjectError(
            "give the agent token either from the environment (RTGUARD_TOKEN) or as a Secrets "
            "Manager ARN (--token-secret-arn), exactly one of them"
        )
    if settings.memory_mib is not None and settings.memory_mib < 16:
        raise InjectError(f"sidecar memory {settings.memory_mib} MiB is too small (at least 16)")


def inject_sidecar(document: Mapping[str, Any], settings: SidecarSettings) -> Injection:
    """Return the task definition with the agent sidecar (replacing an earlier one).

    Raises:
        InjectError: no containers, bad settings, or no Fargate size fits the task with the agent.
    """
    _check_settings(settings)
    td = task_definition_of(document)
    apps = [c for c in _containers(td) if c.get("name") != settings.name]
    if not apps:
        raise InjectError("the task definition has no application container")
    notes: list[str] = []
    cpu, memory = _int(td.get("cpu")), _int(td.get("memory"))
    table = guardduty_agent_memory(cpu or 0, memory or 0)
    if settings.memory_mib is not None:
        sidecar_memory = settings.memory_mib
    elif settings.memory_policy is MemoryPolicy.GUARDDUTY:
        sidecar_memory = table
    else:
        sidecar_memory = min(RTGUARD_AGENT_MEMORY_MIB, table)
    notes.append(
        f"sidecar {settings.name}: memory limit {sidecar_memory} MiB (GuardDuty's agent: {table} MiB)"
    )

    for c in apps:
        deps = c.get("dependsOn")
        if isinstance(deps, list) and any(
            isinstance(d, dict) and d.get("containerName") == settings.name for d in deps
        ):
            kept = [d for d in deps if not (isinstance(d, dict) and d.get("containerName") == settings.name)]
            if kept:
                c["dependsOn"] = kept
            else:
                c.pop("dependsOn")
            notes.append(
                f"container {c.get('name')}: removed dependsOn {settings.name} (it must never block the app)"
            )

    new_memory = memory
    is_fargate = "FARGATE" in (td.get("requiresCompatibilities") or [])
    if memory is not None:
        need = sum(_reserved(c) for c in apps) + sidecar_memory
        if need > memory:
            if not is_fargate:
                new_memory = need
            else:
                size = next_valid_size(cpu or 256, need)
                if size is None:
                    raise InjectError(f"no Fargate task size has {need} MiB for the containers and the agent")
                if size[0] != cpu:
                    notes.append(
                        f"task cpu raised from {cpu} to {size[0]} (no {cpu}-unit size has {need} MiB)"
                    )
                    td["cpu"] = str(size[0])
                new_memory = size[1]
            td["memory"] = str(new_memory)
            notes.append(f"task memory raised from {memory} to {new_memory} MiB: the containers reserve "
                         f"{need - sidecar_memory} MiB and the agent needs {sidecar_memory} MiB")  # fmt: skip
        else:
            notes.append(f"task memory {memory} MiB unchanged: containers and agent need at most {need} MiB")

    if td.get("pidMode") != "task":
        notes.append(
            f"pidMode set to task (was {td.get('pidMode') or 'unset'}) so the agent sees the app's processes"
        )
        td["pidMode"] = "task"
    td["containerDefinitions"] = [*apps, _sidecar(settings, sidecar_memory, apps)]
    if settings.token_secret_arn:
        notes.append("the execution role needs secretsmanager:GetSecretValue on the token secret")
    else:
        notes.append("the agent token is in plain text in the task definition; prefer --token-secret-arn")
    return Injection(
        task_definition=registrable(td),
        sidecar_memory=sidecar_memory,
        task_memory_before=memory,
        task_memory_after=new_memory,
        notes=tuple(notes),
    )


def remove_sidecar(document: Mapping[str, Any], name: str = SIDECAR_NAME) -> dict[str, Any]:
    """The task definition without the agent sidecar (registrable). Leaves pidMode and memory as
    they are: another container may rely on them."""
    td = task_definition_of(document)
    td["containerDefinitions"] = [c for c in _containers(td) if c.get("name") != name]
    if not td["containerDefinitions"]:
        raise InjectError("the task definition has no application container")
    return registrable(td)
