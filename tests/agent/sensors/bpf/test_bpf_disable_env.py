"""``RTGUARD_BPF_DISABLE`` picks programs by full section or by its last part."""

from __future__ import annotations

import pytest

from rtguard.agent.sensors.bpf.sensor import ENV_DISABLE, _disabled_by_env

SECTIONS = [
    "tracepoint/syscalls/sys_enter_read",
    "tracepoint/syscalls/sys_exit_read",
    "tp_btf/sched_process_exec",
]


def test_disable_by_name_or_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DISABLE, " sys_enter_read, tracepoint/syscalls/sys_exit_read ,nope")
    assert _disabled_by_env(SECTIONS) == {SECTIONS[0], SECTIONS[1]}
    monkeypatch.setenv(ENV_DISABLE, "")
    assert _disabled_by_env(SECTIONS) == set()
