"""RuntimeContext keys in their API shapes: ProcessDetails for targetProcess and
modifyingProcess, lists for flags and relatedFilePaths; boto3's model parses them."""

from __future__ import annotations

from typing import Any

from rtguard.findings.build import FindingContext, build_finding
from rtguard.model.events import EventKind, TargetPayload
from rtguard.model.findings import Detection
from rtguard.testing.events import event, exec_event, process

CTX = FindingContext(account_id="123456789012", region="us-east-1", detector_id="d" * 32)


def test_target_process_is_the_targets_process_details() -> None:
    target = process("nginx", pid=77)
    e = event(EventKind.PTRACE, TargetPayload(target_pid=77, request=5, target=target), name="python3")
    d = Detection(
        finding_type="DefenseEvasion:Runtime/ProcessInjection.Ptrace",
        event=e,
        rule_id="RTG-0107",
        artifact="x",
        context={"targetProcess": "/usr/bin/nginx"},
    )
    doc: Any = build_finding(CTX, d, now_ns=e.time)
    ctx = doc["service"]["runtimeDetails"]["context"]
    assert ctx["targetProcess"]["executablePath"] == "/usr/bin/nginx"
    assert ctx["targetProcess"]["pid"] == 77


def test_modifying_process_path_and_list_keys() -> None:
    d = Detection(
        finding_type="Execution:Runtime/NewBinaryExecuted",
        event=exec_event("x", exe_path="/tmp/x"),
        rule_id="RTG-0130",
        artifact="x",
        context={"modifyingProcess": "/usr/bin/curl", "flags": "0", "relatedFilePaths": "/etc/sudoers"},
    )
    doc: Any = build_finding(CTX, d, now_ns=0)
    ctx = doc["service"]["runtimeDetails"]["context"]
    assert ctx == {
        "modifyingProcess": {"executablePath": "/usr/bin/curl", "name": "curl"},
        "flags": ["0"],
        "relatedFilePaths": ["/etc/sudoers"],
    }
