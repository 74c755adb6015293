"""Scenario tests for DefenseEvasion:Runtime/FilelessExecution, positive and negative."""

from __future__ import annotations

from rtguard.testing.behaviour import found
from rtguard.testing.events import exec_event

FILELESS = "DefenseEvasion:Runtime/FilelessExecution"


def test_memfd_exec_is_reported() -> None:
    e = exec_event(
        "3", argv=["payload"], exe_path="/memfd:x (deleted)", exe_from_memfd=True, parent="python3"
    )
    (d,) = found(e, FILELESS)
    assert d.rule_id == "RTG-0112" and d.context == {}


def test_ordinary_exec_is_not_fileless() -> None:
    assert not found(exec_event("ls"), FILELESS)


def test_runtime_helpers_and_jit_runtimes_are_excluded() -> None:
    runc = exec_event("runc", exe_path="/memfd:runc_cloned:/proc/self/exe (deleted)", exe_from_memfd=True)
    assert not found(runc, FILELESS)
    crun = exec_event("x", exe_path="/memfd:crun (deleted)", exe_from_memfd=True)
    assert not found(crun, FILELESS)
    jit = exec_event("stub", exe_path="/memfd:jit (deleted)", exe_from_memfd=True, parent="java")
    assert not found(jit, FILELESS)
