"""Enrichment: turning raw sensor records into model events with process, container and task.

The look-ups live here, each total (they return an empty value and count, never raise):
container identity from cgroup paths (``container``, pure), ECS task metadata (``ecs``),
executable hashes (``hashing``); the process table that uses them is ``process_cache``, the
only holder of agent state about processes. Nothing in this package may import
``rtguard.detect``, ``rtguard.store``, ``rtguard.bus`` or ``rtguard.api``. The package
imports nothing itself: ``ecs`` brings the HTTP client and TLS (~6.5 MiB resident), which the
agent loads only after its eBPF sensor is up and libbpf's start-up memory is given back.
"""
