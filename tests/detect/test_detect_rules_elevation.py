"""Scenario tests for PrivilegeEscalation:Runtime/ElevationToRoot, positive and negative."""

from __future__ import annotations

from rtguard.model.events import CredPayload, EventKind
from rtguard.testing.behaviour import found
from rtguard.testing.events import ancestor, event, exec_event

ROOT = "PrivilegeEscalation:Runtime/ElevationToRoot"


def test_unusual_setuid_root_binary_run_by_a_user() -> None:
    (d,) = found(exec_event("rootme", exe_path="/tmp/rootme", uid=1000, euid=0), ROOT)
    assert d.rule_id == "RTG-0128" and d.context == {}


def test_sudo_and_ordinary_setuid_programs_are_not_reported() -> None:
    assert not found(exec_event("sudo", uid=1000, euid=0), ROOT)
    assert not found(exec_event("passwd", uid=1000, euid=0), ROOT)
    assert not found(exec_event("ping", uid=1000, euid=0), ROOT)
    sudo_child = exec_event("id", uid=1000, euid=0, lineage=[ancestor("sudo", pid=5)])
    assert not found(sudo_child, ROOT)
    assert not found(exec_event("id", uid=0, euid=0), ROOT)
    assert not found(exec_event("id", uid=1000, euid=1000), ROOT)


def test_setuid_call_to_root_by_a_non_root_process() -> None:
    cred = CredPayload(syscall="setuid", old_uid=1000, old_euid=1000, new_uid=0, new_euid=0)
    assert found(event(EventKind.CRED_CHANGE, cred, name="exploit"), ROOT)
    assert not found(event(EventKind.CRED_CHANGE, cred, name="sshd"), ROOT)
    drop = CredPayload(syscall="setuid", old_uid=0, old_euid=0, new_uid=1000, new_euid=1000)
    assert not found(event(EventKind.CRED_CHANGE, drop, name="nginx"), ROOT)
