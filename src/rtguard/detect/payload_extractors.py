"""Field extractors for the event payloads other than sockets: DNS, file paths, call
arguments, credentials, mounts, modules and target processes.

Same contract as ``rtguard.detect.extractors``: pure functions of an ``Event`` that return the
value or ``None`` when the event's payload has none. This module must not know rule syntax,
must not raise for a well-formed ``Event`` and must not do I/O.
"""

from __future__ import annotations

from rtguard.model.events import (
    CredPayload,
    DnsPayload,
    Event,
    FilePayload,
    MemfdPayload,
    ModulePayload,
    MountPayload,
    TargetPayload,
)


def _or_none(value: str) -> str | None:
    return value or None


def dns_name(e: Event) -> str | None:
    p = e.payload
    return p.name if isinstance(p, DnsPayload) else None


def dns_qtype(e: Event) -> str | None:
    p = e.payload
    return p.qtype if isinstance(p, DnsPayload) else None


def dns_answers(e: Event) -> tuple[str, ...] | None:
    p = e.payload
    return p.answers if isinstance(p, DnsPayload) else None


def dns_rcode(e: Event) -> str | None:
    p = e.payload
    return _or_none(p.rcode) if isinstance(p, DnsPayload) else None


def dns_server_ip(e: Event) -> str | None:
    p = e.payload
    return _or_none(p.server_ip) if isinstance(p, DnsPayload) else None


def fs_path_name(e: Event) -> str | None:
    p = e.payload
    return p.path or None if isinstance(p, FilePayload) else None


def fs_path_target(e: Event) -> str | None:
    p = e.payload
    return p.target_path or None if isinstance(p, FilePayload) else None


def evt_arg_flags(e: Event) -> int | None:
    p = e.payload
    if isinstance(p, FilePayload | MountPayload | MemfdPayload):
        return p.flags
    return None


def evt_arg_mode(e: Event) -> int | None:
    p = e.payload
    return p.mode if isinstance(p, FilePayload) else None


def evt_arg_request(e: Event) -> int | None:
    p = e.payload
    return p.request if isinstance(p, TargetPayload) else None


def evt_arg_pid(e: Event) -> int | None:
    p = e.payload
    return p.target_pid if isinstance(p, TargetPayload) else None


def evt_arg_name(e: Event) -> str | None:
    p = e.payload
    if isinstance(p, MemfdPayload | ModulePayload):
        return p.name or None
    return None


def evt_arg_uid(e: Event) -> int | None:
    p = e.payload
    return p.new_uid if isinstance(p, CredPayload) else None


def evt_arg_euid(e: Event) -> int | None:
    p = e.payload
    return p.new_euid if isinstance(p, CredPayload) else None


def evt_arg_gid(e: Event) -> int | None:
    p = e.payload
    return p.new_gid if isinstance(p, CredPayload) else None


def cred_syscall(e: Event) -> str | None:
    p = e.payload
    return p.syscall if isinstance(p, CredPayload) else None


def cred_old_uid(e: Event) -> int | None:
    p = e.payload
    return p.old_uid if isinstance(p, CredPayload) else None


def cred_old_euid(e: Event) -> int | None:
    p = e.payload
    return p.old_euid if isinstance(p, CredPayload) else None


def mount_source(e: Event) -> str | None:
    p = e.payload
    return p.source if isinstance(p, MountPayload) else None


def mount_target(e: Event) -> str | None:
    p = e.payload
    return p.target if isinstance(p, MountPayload) else None


def mount_fstype(e: Event) -> str | None:
    p = e.payload
    return _or_none(p.fstype) if isinstance(p, MountPayload) else None


def module_path(e: Event) -> str | None:
    p = e.payload
    return _or_none(p.path) if isinstance(p, ModulePayload) else None


def module_sha256(e: Event) -> str | None:
    p = e.payload
    return _or_none(p.sha256) if isinstance(p, ModulePayload) else None


def target_name(e: Event) -> str | None:
    p = e.payload
    if isinstance(p, TargetPayload) and p.target is not None:
        return p.target.name
    return None


def target_exepath(e: Event) -> str | None:
    p = e.payload
    if isinstance(p, TargetPayload) and p.target is not None:
        return _or_none(p.target.exe_path)
    return None
