"""Pre-flight checks of an ECS task definition: the conditions behind GuardDuty's
"Agent not provisioned" coverage issues (reference §3c, §5), each with the issue string GuardDuty
would show and the fix to apply.

Checks: platform version ≥ 1.4.0 or LATEST, Linux, x86_64 or ARM64, a task execution role,
``awsvpc`` networking, a CPU and memory combination valid on Fargate, and room for the agent.
Pure: a task definition dict in, a list of results out; must not call AWS or print (the CLI does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rtguard.ecs.inject import task_definition_of
from rtguard.ecs.requirements import (
    FARGATE_MEMORY,
    RTGUARD_AGENT_MEMORY_MIB,
    SUPPORTED_ARCHITECTURES,
    SUPPORTED_OS,
    next_valid_size,
    platform_version_ok,
    valid_fargate_size,
)

__all__ = ["CheckResult", "format_results", "preflight", "task_definition_label"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """One check: passed or not, what was found, GuardDuty's issue string, and the fix."""

    name: str
    ok: bool
    message: str
    issue: str = ""
    fix: str = ""


def task_definition_label(td: Mapping[str, Any]) -> str:
    """``family:revision`` (GuardDuty's ``<TD>`` in issue strings)."""
    family = str(td.get("family") or "?")
    revision = td.get("revision")
    return f"{family}:{revision}" if revision is not None else family


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _platform(version: str, label: str) -> CheckResult:
    shown = version or "LATEST"
    if platform_version_ok(version):
        return CheckResult(name="platform-version", ok=True, message=f"platform version {shown}")
    return CheckResult(
        name="platform-version",
        ok=False,
        message=f"platform version {shown} is older than 1.4.0",
        issue=f"Agent not provisioned : Unsupported platform version '{shown}' for task(s) in TaskDefinition - '{label}'",
        fix="run the service or task with --platform-version LATEST (or 1.4.0 or later)",
    )


def _os(td: Mapping[str, Any], label: str) -> CheckResult:
    platform = td.get("runtimePlatform") or {}
    family = str(platform.get("operatingSystemFamily") or "LINUX").upper()
    if family in SUPPORTED_OS:
        return CheckResult(name="operating-system", ok=True, message=f"operating system {family}")
    return CheckResult(
        name="operating-system",
        ok=False,
        message=f"operating system {family} is not supported (Linux only)",
        issue=f"Agent not provisioned : Unsupported operating system '{family}' for task(s) in TaskDefinition - '{label}'",
        fix='set runtimePlatform.operatingSystemFamily to "LINUX"; Windows tasks cannot be monitored',
    )


def _arch(td: Mapping[str, Any], label: str) -> CheckResult:
    platform = td.get("runtimePlatform") or {}
    arch = str(platform.get("cpuArchitecture") or "X86_64").upper()
    if arch in SUPPORTED_ARCHITECTURES:
        return CheckResult(name="cpu-architecture", ok=True, message=f"CPU architecture {arch}")
    return CheckResult(
        name="cpu-architecture",
        ok=False,
        message=f"CPU architecture {arch} is not supported",
        issue=f"Agent not provisioned : Unsupported CPU architecture '{arch}' for task(s) in TaskDefinition - '{label}'",
        fix='set runtimePlatform.cpuArchitecture to "X86_64" or "ARM64"',
    )


def _execution_role(td: Mapping[str, Any], label: str) -> CheckResult:
    role = td.get("executionRoleArn")
    if isinstance(role, str) and role:
        return CheckResult(name="execution-role", ok=True, message=f"execution role {role}")
    return CheckResult(
        name="execution-role",
        ok=False,
        message="no task execution role: the agent image cannot be pulled nor its token secret read",
        issue=f"Agent not provisioned : TaskExecutionRole missing from TaskDefinition - '{label}'",
        fix="set executionRoleArn to a role with the AmazonECSTaskExecutionRolePolicy managed policy "
        "(plus secretsmanager:GetSecretValue on the agent token secret)",
    )


def _network(td: Mapping[str, Any], label: str) -> CheckResult:
    mode = td.get("networkMode") or "unset"
    if mode == "awsvpc":
        return CheckResult(name="network-mode", ok=True, message="network mode awsvpc")
    return CheckResult(
        name="network-mode",
        ok=False,
        message=f"network mode {mode}; the agent needs awsvpc (a network configuration of its own)",
        issue=f"Agent not provisioned : Missing network configuration 'awsvpc' for task(s) in TaskDefinition - '{label}'",
        fix='set "networkMode": "awsvpc" and run the task with subnets and security groups',
    )


def _size(td: Mapping[str, Any], label: str) -> list[CheckResult]:
    cpu, memory = _int(td.get("cpu")), _int(td.get("memory"))
    if cpu is None or memory is None or not valid_fargate_size(cpu, memory):
        choices = ", ".join(f"{u}: {m[0]}-{m[-1]}" for u, m in FARGATE_MEMORY.items())
        return [
            CheckResult(
                name="task-size",
                ok=False,
                message=f"cpu {td.get('cpu')} with memory {td.get('memory')} is not a valid Fargate size",
                issue=f"Agent not provisioned : Invalid task size for task(s) in TaskDefinition - '{label}'",
                fix=f"set task cpu and memory (MiB) to a Fargate combination ({choices})",
            )
        ]
    results = [
        CheckResult(name="task-size", ok=True, message=f"cpu {cpu} with {memory} MiB is a valid Fargate size")
    ]
    containers = td.get("containerDefinitions") or []
    reserved = sum(
        (_int(c.get("memoryReservation")) or _int(c.get("memory")) or 0)
        for c in containers
        if isinstance(c, dict)
    )
    need = reserved + RTGUARD_AGENT_MEMORY_MIB
    if need <= memory:
        results.append(
            CheckResult(
                name="agent-memory",
                ok=True,
                message=f"{memory - reserved} MiB unreserved, the agent needs {RTGUARD_AGENT_MEMORY_MIB} MiB",
            )
        )
    else:
        size = next_valid_size(cpu, need)
        fix = (
            f"raise the task to cpu {size[0]} / memory {size[1]} MiB (inject-sidecar does it), or lower "
            "the containers' memory reservations"
            if size
            else "lower the containers' memory reservations"
        )
        results.append(
            CheckResult(
                name="agent-memory",
                ok=False,
                message=f"containers reserve {reserved} of {memory} MiB; no room for the agent's {RTGUARD_AGENT_MEMORY_MIB} MiB",
                issue=f"Agent not provisioned : Insufficient memory for the agent in TaskDefinition - '{label}'",
                fix=fix,
            )
        )
    return results


def preflight(document: Mapping[str, Any], platform_version: str = "LATEST") -> list[CheckResult]:
    """Every check on a task definition (bare or describe's output); all results, failed or not.

    ``platform_version`` is the one the service or task runs with (it is not part of the task
    definition). An empty list never happens: each check reports either way.
    """
    td = task_definition_of(document)
    label = task_definition_label(td)
    results = [
        _platform(platform_version, label),
        _os(td, label),
        _arch(td, label),
        _execution_role(td, label),
        _network(td, label),
        *_size(td, label),
    ]
    compat = td.get("requiresCompatibilities") or []
    if "FARGATE" not in compat:
        results.append(
            CheckResult(
                name="launch-type",
                ok=True,
                message=f"requiresCompatibilities {list(compat)} does not name FARGATE; on EC2 the host agent "
                "covers the task and the sidecar is optional",
            )
        )
    return results


def format_results(results: Sequence[CheckResult]) -> str:
    """Human text: one ``PASS``/``FAIL`` line per check, the issue and the fix under each failure."""
    lines = []
    for r in results:
        lines.append(f"{'PASS' if r.ok else 'FAIL'}  {r.name}: {r.message}")
        if not r.ok:
            if r.issue:
                lines.append(f"      GuardDuty issue: {r.issue}")
            lines.append(f"      fix: {r.fix}")
    failed = sum(1 for r in results if not r.ok)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)
