"""Pre-flight checks: the example passes; each requirement fails with its issue string and fix."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtguard.ecs.preflight import CheckResult, format_results, preflight

EXAMPLE = Path(__file__).with_name("data") / "taskdef-test-nginx.json"  # shared/examples, as is


@pytest.fixture
def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return data


def _failed(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results if not r.ok}


def test_example_passes_every_check(example: dict[str, Any]) -> None:
    results = preflight(example)
    assert {r.name for r in results} >= {
        "platform-version", "operating-system", "cpu-architecture", "execution-role", "network-mode",
        "task-size", "agent-memory",
    }  # fmt: skip
    assert _failed(results) == {}


@pytest.mark.parametrize(
    ("change", "check", "issue_part"),
    [
        (
            {"runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2019_CORE"}},
            "operating-system",
            "Unsupported operating system",
        ),
        (
            {"runtimePlatform": {"cpuArchitecture": "I386"}},
            "cpu-architecture",
            "Unsupported CPU architecture 'I386'",
        ),
        (
            {"executionRoleArn": None},
            "execution-role",
            "TaskExecutionRole missing from TaskDefinition - 'test-nginx:3'",
        ),
        ({"networkMode": "bridge"}, "network-mode", "Missing network configuration 'awsvpc'"),
        ({"cpu": "256", "memory": "4096"}, "task-size", "Invalid task size"),
    ],
)
def test_each_requirement_fails_with_issue_and_fix(
    example: dict[str, Any], change: dict[str, Any], check: str, issue_part: str
) -> None:
    td = copy.deepcopy(example)
    for key, value in change.items():
        if value is None:
            td.pop(key)
        else:
            td[key] = value
    failed = _failed(preflight(td))
    assert set(failed) == {check}
    assert failed[check].issue.startswith("Agent not provisioned : ")
    assert issue_part in failed[check].issue
    assert failed[check].fix


def test_platform_version_and_memory_headroom(example: dict[str, Any]) -> None:
    assert set(_failed(preflight(example, platform_version="1.3.0"))) == {"platform-version"}
    assert _failed(preflight(example, platform_version="1.4.0")) == {}
    example["containerDefinitions"][0]["memoryReservation"] = 500
    failed = _failed(preflight(example))
    assert set(failed) == {"agent-memory"}
    assert "cpu 256 / memory 1024" in failed["agent-memory"].fix
    assert "FAIL  agent-memory" in format_results(preflight(example))


def test_cli_exit_codes(example: dict[str, Any], tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "rtguard.cli", "ecs", "preflight", str(EXAMPLE)],
                        capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "7 passed, 0 failed" in ok.stdout
    example["networkMode"] = "bridge"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(example))
    failed = subprocess.run([sys.executable, "-m", "rtguard.cli", "ecs", "preflight", str(bad)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert failed.returncode == 1
    assert 'fix: set "networkMode": "awsvpc"' in failed.stdout
