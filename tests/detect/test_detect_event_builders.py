"""The keyword event builders of rtguard.testing.events: defaults and where keywords go."""

from __future__ import annotations

import pytest

from rtguard.model.events import EventKind, ExecPayload
from rtguard.testing.events import CONTAINER_ID, ancestor, connect_event, dns_event, exec_event, file_event


def test_exec_event_defaults() -> None:
    ev = exec_event("curl", argv=["curl", "-s", "x"])
    assert ev.kind is EventKind.PROCESS_EXEC
    assert ev.process.name == "curl" and ev.process.argv == ("curl", "-s", "x")
    assert ev.process.exe_path == "/usr/bin/curl" and ev.payload == ExecPayload(filename="/usr/bin/curl")
    assert ev.container is not None and ev.container.id == CONTAINER_ID and len(CONTAINER_ID) == 64
    assert ev.container.ecs is not None and ev.container.ecs.family == "test-task"
    assert [a.name for a in ev.lineage] == ["bash"]
    assert ev.process.parent_exec_id == ev.lineage[0].exec_id and ev.process.ppid == ev.lineage[0].pid


def test_keywords_go_to_the_process_or_the_event() -> None:
    ev = exec_event("sh", uid=1000, cwd="/tmp", ld_preload="/x.so", time=5, agent_id="a1", container_id=None)
    assert (ev.process.uid, ev.process.cwd, ev.process.ld_preload) == (1000, "/tmp", "/x.so")
    assert (ev.time, ev.agent_id, ev.container) == (5, "a1", None)
    with pytest.raises(TypeError, match="nosuch"):
        exec_event("sh", nosuch=1)


def test_lineage_and_parent_forms() -> None:
    assert exec_event("sh", parent=None).lineage == ()
    entry = ancestor("nginx", pid=7)
    assert exec_event("sh", parent=entry).lineage == (entry,)
    two = exec_event("sh", lineage=[ancestor("a", pid=2), ancestor("b", pid=1)])
    assert [a.name for a in two.lineage] == ["a", "b"] and two.process.ppid == 2


def test_other_builders() -> None:
    assert connect_event("2001:db8::1").payload.family == 10  # type: ignore[union-attr]
    assert dns_event("x.example", answers=["192.0.2.1"]).kind is EventKind.DNS_QUERY
    assert file_event("/etc/passwd", kind=EventKind.FILE_UNLINK).kind is EventKind.FILE_UNLINK
