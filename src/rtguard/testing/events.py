"""Keyword event builders for tests: ``exec_event(name="xmrig", argv=[...])`` and friends.

Every builder fills the fields a test does not care about with consistent defaults: a host
``test-host``, a container with a 64-hex id in ECS task ``test-task`` of cluster
``test-cluster``, a parent ``bash``, a process whose ``exec_id`` is derived from its pid. Extra
keywords go to the ``Process`` when they name one of its fields and to the ``Event``
otherwise. Test helper only: production code must not import it, and it does no I/O.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any, Final

from rtguard.model.events import (
    Container,
    DnsPayload,
    EcsTask,
    Event,
    EventKind,
    ExecPayload,
    ExitPayload,
    FilePayload,
    Host,
    LineageEntry,
    NetPayload,
    Payload,
    Process,
)

CONTAINER_ID: Final = "c0ffee" + "0" * 52 + "123456"
CLUSTER_ARN: Final = "arn:aws:ecs:us-east-1:123456789012:cluster/test-cluster"
TASK_ARN: Final = "arn:aws:ecs:us-east-1:123456789012:task/test-cluster/0123456789abcdef0123456789abcdef"
BASE_TIME: Final = 1_700_000_000_000_000_000


class _Default:
    """The type of ``DEFAULT``: "use the standard test container"."""


DEFAULT: Final = _Default()

_PROCESS_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(Process))
_EVENT_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(Event))
_pids = itertools.count(1000)


def container(
    container_id: str = CONTAINER_ID,
    *,
    image: str = "public.ecr.aws/docker/library/python:3.12",
    name: str = "app",
    ecs: bool = True,
) -> Container:
    """A container in an ECS task (``ecs=False``: a plain container)."""
    task = EcsTask(cluster_arn=CLUSTER_ARN, task_arn=TASK_ARN, family="test-task", container_name=name)
    return Container(id=container_id, runtime="containerd", name=name, image=image, ecs=task if ecs else None)


def ancestor(
    name: str = "bash", *, pid: int = 100, exe_path: str | None = None, uid: int = 0
) -> LineageEntry:
    """One ancestor for a lineage."""
    path = exe_path if exe_path is not None else f"/usr/bin/{name}"
    return LineageEntry(exec_id=f"exec-{pid}", pid=pid, name=name, exe_path=path, uid=uid, euid=uid)


def process(
    name: str = "sh",
    *,
    argv: Sequence[str] | None = None,
    exe_path: str | None = None,
    pid: int | None = None,
    **fields: Any,
) -> Process:
    """A process; ``argv`` defaults to ``[name]`` and ``exe_path`` to ``/usr/bin/<name>``."""
    pid = next(_pids) if pid is None else pid
    fields.setdefault("exec_id", f"exec-{pid}")
    fields.setdefault("ns_pid", pid)
    return Process(
        name=name,
        argv=tuple(argv) if argv is not None else (name,),
        exe_path=exe_path if exe_path is not None else f"/usr/bin/{name}",
        pid=pid,
        **fields,
    )


def event(
    kind: EventKind,
    payload: Payload,
    *,
    name: str = "sh",
    argv: Sequence[str] | None = None,
    exe_path: str | None = None,
    container_id: str | _Default | None = DEFAULT,
    parent: str | LineageEntry | None = "bash",
    lineage: Sequence[LineageEntry] | None = None,
    **kw: Any,
) -> Event:
    """Any event; see the module docstring for defaults and where ``kw`` goes.

    Args:
        kind: the event kind.
        payload: its payload.
        name: process name (comm).
        argv: command line; ``[name]`` by default.
        exe_path: executable path; ``/usr/bin/<name>`` by default.
        container_id: the container; ``None`` for a host process.
        parent: the parent's name (or entry); ignored when ``lineage`` is given.
        lineage: the full ancestry, nearest first.
        **kw: ``Process`` fields (``uid``, ``cwd``, ``ld_preload``, …) or ``Event`` fields
            (``time``, ``host``, ``container``, ``agent_id``).
    """
    process_kw = {k: v for k, v in kw.items() if k in _PROCESS_FIELDS}
    event_kw = {k: v for k, v in kw.items() if k in _EVENT_FIELDS}
    unknown = set(kw) - set(process_kw) - set(event_kw)
    if unknown:
        raise TypeError(f"unknown event or process fields: {sorted(unknown)}")
    if lineage is None:
        lineage = (
            () if parent is None else (parent if isinstance(parent, LineageEntry) else ancestor(parent),)
        )
    if lineage:
        process_kw.setdefault("parent_exec_id", lineage[0].exec_id)
        process_kw.setdefault("ppid", lineage[0].pid)
    proc = process(name, argv=argv, exe_path=exe_path, **process_kw)
    if "container" not in event_kw:
        cid = CONTAINER_ID if isinstance(container_id, _Default) else container_id
        event_kw["container"] = None if cid is None else container(cid)
    event_kw.setdefault("time", BASE_TIME)
    event_kw.setdefault("host", Host(hostname="test-host", instance_id="i-0123456789abcdef0"))
    return Event(kind=kind, process=proc, lineage=tuple(lineage), payload=payload, **event_kw)


def exec_event(
    name: str = "sh",
    *,
    argv: Sequence[str] | None = None,
    exe_path: str | None = None,
    container_id: str | _Default | None = DEFAULT,
    parent: str | LineageEntry | None = "bash",
    filename: str | None = None,
    **kw: Any,
) -> Event:
    """A ``process_exec``: ``exec_event(name="curl", argv=["curl", "-s", url])``.

    ``filename`` is the file passed to execve (a script or symlink); ``exe_path`` by default.
    """
    path = exe_path if exe_path is not None else f"/usr/bin/{name}"
    return event(
        EventKind.PROCESS_EXEC,
        ExecPayload(filename=path if filename is None else filename),
        name=name,
        argv=argv,
        exe_path=path,
        container_id=container_id,
        parent=parent,
        **kw,
    )


def exit_event(name: str = "sh", *, exit_code: int = 0, **kw: Any) -> Event:
    """A ``process_exit``."""
    return event(EventKind.PROCESS_EXIT, ExitPayload(exit_code=exit_code), name=name, **kw)


def connect_event(
    remote_ip: str = "198.51.100.7",
    remote_port: int = 443,
    *,
    local_ip: str = "10.0.0.5",
    local_port: int = 40000,
    protocol: int = 6,
    name: str = "curl",
    **kw: Any,
) -> Event:
    """A ``net_connect`` over IPv4 (or IPv6 when ``remote_ip`` has a colon)."""
    family = 10 if ":" in remote_ip else 2
    payload = NetPayload(
        family=family,
        protocol=protocol,
        local_ip=local_ip,
        local_port=local_port,
        remote_ip=remote_ip,
        remote_port=remote_port,
        direction="outbound",
    )
    return event(EventKind.NET_CONNECT, payload, name=name, **kw)


def dns_event(
    domain: str = "example.com", *, answers: Sequence[str] = (), name: str = "curl", **kw: Any
) -> Event:
    """A ``dns_query`` with its answers."""
    return event(EventKind.DNS_QUERY, DnsPayload(name=domain, answers=tuple(answers)), name=name, **kw)


def file_event(
    path: str = "/tmp/file",
    *,
    kind: EventKind = EventKind.FILE_WRITE,
    target_path: str = "",
    name: str = "sh",
    **kw: Any,
) -> Event:
    """A file event (``file_write`` by default; any ``file_*`` kind)."""
    return event(kind, FilePayload(path=path, target_path=target_path), name=name, **kw)
