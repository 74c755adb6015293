"""Helpers for the behavioural scenario tests: one engine, a finder that checks each detection's
context keys against the keys its type may carry (reference §1b), and a multi-event runner.

Test helper only: production code must not import it. No I/O beyond loading the shipped rules.
"""

from __future__ import annotations

from typing import Final

from rtguard.detect import build_engine
from rtguard.detect.detector import EngineState
from rtguard.model.events import Event
from rtguard.model.findings import Detection

ENGINE, LOADED = build_engine()

# The RuntimeContext keys each behavioural type may carry (reference §1b).
ALLOWED_CONTEXT: Final[dict[str, frozenset[str]]] = {
    "Execution:Runtime/NewBinaryExecuted": frozenset({"modifyingProcess", "modifiedAt"}),
    "Execution:Runtime/NewLibraryLoaded": frozenset({"libraryPath", "modifyingProcess", "modifiedAt"}),
    "PrivilegeEscalation:Runtime/DockerSocketAccessed": frozenset({"socketPath"}),
    "PrivilegeEscalation:Runtime/RuncContainerEscape": frozenset({"runcBinaryPath"}),
    "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified": frozenset({"releaseAgentPath"}),
    "DefenseEvasion:Runtime/ProcessInjection.Proc": frozenset({"targetProcess"}),
    "DefenseEvasion:Runtime/ProcessInjection.Ptrace": frozenset({"targetProcess"}),
    "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite": frozenset(
        {"targetProcess", "memoryRegions"}
    ),
    "Execution:Runtime/ReverseShell": frozenset(),
    "DefenseEvasion:Runtime/FilelessExecution": frozenset(),
    "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory": frozenset(
        {"mountSource", "mountTarget", "fileSystemType", "flags"}
    ),
    "PrivilegeEscalation:Runtime/UserfaultfdUsage": frozenset(),
    "DefenseEvasion:Runtime/SuspiciousCommand": frozenset(
        {"serviceName", "ldPreloadValue", "commandLineExample"}
    ),
    "DefenseEvasion:Runtime/PtraceAntiDebugging": frozenset(),
    "Execution:Runtime/MaliciousFileExecuted": frozenset({"threatFilePath"}),
    "Execution:Runtime/SuspiciousShellCreated": frozenset(),
    "PrivilegeEscalation:Runtime/ElevationToRoot": frozenset(),
    "Persistence:Runtime/SuspiciousCommand": frozenset({"commandLineExample"}),
    "PrivilegeEscalation:Runtime/SuspiciousCommand": frozenset({"commandLineExample"}),
    "Execution:Runtime/SuspiciousCommand": frozenset({"commandLineExample"}),
    "DefenseEvasion:Runtime/KernelModuleLoaded": frozenset({"moduleName", "moduleFilePath", "moduleSha256"}),
    "Persistence:Runtime/SensitiveFileModified": frozenset({"fileOperation", "filePath", "relatedFilePaths"}),
    "PrivilegeEscalation:Runtime/SensitiveFileModified": frozenset(
        {"fileOperation", "filePath", "relatedFilePaths"}
    ),
    "DefenseEvasion:Runtime/SensitiveFileModified": frozenset(
        {"fileOperation", "filePath", "relatedFilePaths"}
    ),
}


def found(event: Event, finding_type: str, state: EngineState | None = None) -> list[Detection]:
    """The detections of ``finding_type`` for ``event``; their context keys are checked."""
    out = [d for d in ENGINE.evaluate(event, state or ENGINE.new_state()) if d.finding_type == finding_type]
    for d in out:
        extra = set(d.context) - ALLOWED_CONTEXT[finding_type]
        assert not extra, f"{d.rule_id} puts {extra} in the context of {finding_type}"
    return out


def run(events: list[Event], finding_type: str) -> list[Detection]:
    """Every detection of ``finding_type`` over ``events`` in one partition state."""
    state = ENGINE.new_state()
    out: list[Detection] = []
    for e in events:
        out += found(e, finding_type, state)
    return out
