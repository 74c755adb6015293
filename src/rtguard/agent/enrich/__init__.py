"""Enrichment: turning raw sensor records into model events with process, container and task.

The look-ups live here, each total (they return an empty value and count, never raise):
container identity from cgroup paths (``container``, pure), ECS task metadata (``ecs``),
executable hashes (``hashing``); the process table that uses them is ``process_cache``, the
only holder of agent state about processes. Nothing in this package may import
``rtguard.detect``, ``rtguard.store``, ``rtguard.bus`` or ``rtguard.api``.
"""

from rtguard.agent.enrich.container import ContainerRef, parse_cgroup_path
from rtguard.agent.enrich.ecs import (
    EcsAgentIntrospection,
    EcsResolver,
    EcsTaskInfo,
    ResourceIdentity,
    TaskMetadataV4,
)
from rtguard.agent.enrich.hashing import HashResult, Sha256Cache

__all__ = [
    "ContainerRef",
    "EcsAgentIntrospection",
    "EcsResolver",
    "EcsTaskInfo",
    "HashResult",
    "ResourceIdentity",
    "Sha256Cache",
    "TaskMetadataV4",
    "parse_cgroup_path",
]
