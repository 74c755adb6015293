"""The real look-ups behind the process table: live /proc data, containers, ECS, hashes, users.

Builds the ``Lookups`` the process table calls on every exec, from the procfs reader, the
cgroup-path parser, the ECS resolver (agent introspection in host mode, task metadata v4 in
sidecar mode) and the sha256 cache. Every function here is total: a failure yields an empty
value and a counter, never an exception into the hot path. It must not hold process state.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from typing import Final

from rtguard.agent.enrich.container import parse_cgroup_path
from rtguard.agent.enrich.ecs import EcsAgentIntrospection, EcsResolver, EcsSource, TaskMetadataV4
from rtguard.agent.enrich.hashing import Sha256Cache
from rtguard.agent.enrich.process_cache import LiveDetails, Lookups
from rtguard.agent.sensors.procfs.parse import parse_passwd
from rtguard.agent.sensors.procfs.snapshot import PasswdCache, read_live, read_process
from rtguard.agent.sensors.records import ExecRecord
from rtguard.model.events import Container

_MAX_CONTAINERS: Final = 4096


class _ContainerCache:
    """cgroup path → Container, bounded; containers without ECS data are retried later."""

    def __init__(self, resolver: EcsResolver | None) -> None:
        self._resolver = resolver
        self._cache: OrderedDict[str, Container] = OrderedDict()
        # cgroup paths that name no container (host services, sessions): parsed once
        self._hosts: OrderedDict[str, None] = OrderedDict()

    def __call__(self, cgroup: str, _pid: int) -> Container | None:
        hit = self._cache.get(cgroup)
        if hit is not None and (hit.ecs is not None or self._resolver is None):
            return hit
        if cgroup in self._hosts:
            return None
        ref = parse_cgroup_path(cgroup)
        if ref is None:
            self._hosts[cgroup] = None
            if len(self._hosts) > _MAX_CONTAINERS:
                self._hosts.popitem(last=False)
            return None
        found = (
            self._resolver.container(ref.container_id, runtime=ref.runtime, cgroup=cgroup)
            if self._resolver is not None
            else None
        )
        container = found or Container(id=ref.container_id, runtime=ref.runtime, cgroup=cgroup)
        self._cache[cgroup] = container
        if len(self._cache) > _MAX_CONTAINERS:
            self._cache.popitem(last=False)
        return container


class _RootPids:
    """A few recent pids per cgroup path, to reach a container's files after a process left."""

    def __init__(self, per_cgroup: int = 4, max_cgroups: int = 4096) -> None:
        self._pids: OrderedDict[str, list[int]] = OrderedDict()
        self._per = per_cgroup
        self._max = max_cgroups

    def note(self, cgroup: str, pid: int) -> None:
        pids = self._pids.get(cgroup)
        if pids is None:
            pids = self._pids[cgroup] = []
            if len(self._pids) > self._max:
                self._pids.popitem(last=False)
        if pid not in pids:
            pids.append(pid)
            if len(pids) > self._per:
                # Keep the first (oldest, likely the container's init) and the newest ones.
                del pids[1]

    def live_peers(self, cgroup: str, pid: int, ppid: int) -> list[int]:
        out = [ppid] if ppid else []
        out += [p for p in self._pids.get(cgroup, ()) if p not in (pid, ppid)]
        return [p for p in out if os.path.exists(f"/proc/{p}")]


def _host_users() -> dict[int, str]:
    try:
        with open("/etc/passwd", "rb") as fh:
            return parse_passwd(fh.read())
    except OSError:
        return {}


def build_lookups(ecs_agent_uri: str, ecs_metadata_uri: str) -> tuple[Lookups, dict[str, str]]:
    """Return the look-ups and the resource identity (for heartbeats) of this agent."""
    source: EcsSource | None = None
    if ecs_metadata_uri:
        source = TaskMetadataV4(ecs_metadata_uri)
    elif ecs_agent_uri:
        source = EcsAgentIntrospection(ecs_agent_uri)
    resolver = EcsResolver(source) if source is not None else None
    identity: dict[str, str] = {}
    if resolver is not None:
        ident = resolver.resource_identity()
        if ident is not None:
            identity = {k: str(v) for k, v in dataclasses.asdict(ident).items() if v not in (None, "")}
    passwd = PasswdCache()
    hashes = Sha256Cache()
    users = _host_users()

    def live(pid: int) -> LiveDetails | None:
        info = read_live(pid, passwd=passwd)
        if info is None:
            return None
        return LiveDetails(
            exe_path=info.exe_path,
            cwd=info.cwd,
            ld_preload=info.ld_preload,
            ld_library_path=info.ld_library_path,
            user_name=info.user_name,
            stdio_sockets=info.stdio_sockets,
            stdio_types=info.stdio_types,
        )

    roots = _RootPids()

    by_inode: OrderedDict[tuple[int, int, int], str] = OrderedDict()

    def sha256(pid: int, path: str, rec: ExecRecord) -> str:
        # The sensor names the executable's inode (device, inode, mtime): a repeat of a known
        # file costs one dict look-up, no file system access.
        roots.note(rec.cgroup_path, pid)
        key = (rec.exe_dev, rec.exe_ino, rec.exe_mtime)
        if rec.exe_ino:
            known = by_inode.get(key)
            if known is not None:
                return known
        digest = _sha256_slow(pid, path, rec)
        if digest and rec.exe_ino:
            by_inode[key] = digest
            if len(by_inode) > _MAX_CONTAINERS:
                by_inode.popitem(last=False)
        return digest

    def _sha256_slow(pid: int, path: str, rec: ExecRecord) -> str:
        result = hashes.hash_path(f"/proc/{pid}/exe")
        if result.ok:
            return result.sha256
        if not path.startswith("/"):
            return ""
        # The process is already gone (most short-lived ones are by the time a batch is
        # drained): read the file through the root of a live process in the same cgroup (the
        # container's init usually), and check it is the very inode that ran.
        candidates = [f"/proc/{p}/root{path}" for p in roots.live_peers(rec.cgroup_path, pid, rec.ppid)]
        if parse_cgroup_path(rec.cgroup_path) is None:
            candidates.append(path)
        for candidate in candidates:
            try:
                st = os.stat(candidate)
            except OSError:
                continue
            if rec.exe_ino and st.st_ino != rec.exe_ino:
                continue
            alt = hashes.hash_path(candidate)
            if alt.ok:
                return alt.sha256
        return ""

    lookups = Lookups(
        live=live,
        container=_ContainerCache(resolver),
        sha256=sha256,
        user_name=lambda uid: users.get(uid, ""),
        adopt=read_process,
    )
    return lookups, identity
