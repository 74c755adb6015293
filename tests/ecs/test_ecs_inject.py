"""Sidecar injection on the real example task definition and on edge cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtguard.ecs.inject import (
    SIDECAR_NAME,
    InjectError,
    MemoryPolicy,
    SidecarSettings,
    has_sidecar,
    inject_sidecar,
    remove_sidecar,
)
from rtguard.ecs.requirements import guardduty_agent_memory, next_valid_size, valid_fargate_size

EXAMPLE = Path(__file__).with_name("data") / "taskdef-test-nginx.json"  # shared/examples, as is
SETTINGS = SidecarSettings(server="https://rtguard.internal:8443", token="tok-123")


@pytest.fixture
def example() -> dict[str, Any]:
    if not EXAMPLE.exists():
        pytest.fail(f"the example task definition is missing: {EXAMPLE}")
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return data


def _sidecar(td: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in td["containerDefinitions"] if c["name"] == SIDECAR_NAME]
    assert len(found) == 1
    return found[0]


def test_example_gets_a_non_essential_least_privilege_sidecar(example: dict[str, Any]) -> None:
    result = inject_sidecar(example, SETTINGS)
    td = result.task_definition
    side = _sidecar(td)
    assert side["essential"] is False
    assert td["pidMode"] == "task"
    assert side["linuxParameters"]["capabilities"] == {"add": ["SYS_PTRACE"], "drop": ["ALL"]}
    assert side["memory"] == 64 and result.sidecar_memory == 64
    env = {e["name"]: e["value"] for e in side["environment"]}
    assert env["RTGUARD_SERVER"] == "https://rtguard.internal:8443"
    assert env["RTGUARD_TOKEN"] == "tok-123"
    # the app container is untouched and depends on nothing new
    nginx = td["containerDefinitions"][0]
    assert nginx == example["containerDefinitions"][0]
    assert not any("dependsOn" in c for c in td["containerDefinitions"])
    # 512 MiB holds nginx (no reservation) and the agent: the task size stays
    assert (td["cpu"], td["memory"]) == ("256", "512")
    # registrable: no read-only fields left
    for key in (
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "registeredAt",
        "compatibilities",
    ):
        assert key not in td
    assert td["family"] == "test-nginx" and td["executionRoleArn"].endswith("ecsTaskExecutionRole")
    assert side["logConfiguration"]["options"]["awslogs-group"] == "/ecs/test-nginx"
    assert example["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-stream-prefix"] == "ecs"


def test_guardduty_policy_takes_the_table_value(example: dict[str, Any]) -> None:
    result = inject_sidecar(
        example, SidecarSettings(server="http://s", token="t", memory_policy=MemoryPolicy.GUARDDUTY)
    )
    assert result.sidecar_memory == 128
    assert _sidecar(result.task_definition)["memory"] == 128


def test_secret_arn_goes_to_secrets_not_environment(example: dict[str, Any]) -> None:
    arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:rtguard-token-AbCdEf"
    side = _sidecar(
        inject_sidecar(example, SidecarSettings(server="http://s", token_secret_arn=arn)).task_definition
    )
    assert side["secrets"] == [{"name": "RTGUARD_TOKEN", "valueFrom": arn}]
    assert "RTGUARD_TOKEN" not in {e["name"] for e in side["environment"]}


def test_task_memory_is_raised_only_when_the_table_requires_it(example: dict[str, Any]) -> None:
    example["containerDefinitions"][0]["memory"] = 480
    result = inject_sidecar(example, SETTINGS)
    assert result.task_definition["memory"] == "1024" and result.task_definition["cpu"] == "256"
    assert result.task_memory_before == 512 and result.task_memory_after == 1024
    example["containerDefinitions"][0]["memory"] = 2000
    bigger = inject_sidecar(example, SETTINGS).task_definition
    assert (bigger["cpu"], bigger["memory"]) == ("512", "3072")
    assert valid_fargate_size(int(bigger["cpu"]), int(bigger["memory"]))


def test_reinjection_replaces_the_sidecar_and_drops_dependencies_on_it(example: dict[str, Any]) -> None:
    first = inject_sidecar(example, SETTINGS).task_definition
    first["containerDefinitions"][0]["dependsOn"] = [{"containerName": SIDECAR_NAME, "condition": "START"}]
    again = inject_sidecar(first, SidecarSettings(server="http://other", token="t2"))
    td = again.task_definition
    assert [c["name"] for c in td["containerDefinitions"]] == ["nginx", SIDECAR_NAME]
    assert "dependsOn" not in td["containerDefinitions"][0]
    assert has_sidecar(td)
    removed = remove_sidecar(td)
    assert [c["name"] for c in removed["containerDefinitions"]] == ["nginx"]
    assert not has_sidecar(removed)


def test_describe_output_wrapper_and_bad_settings(example: dict[str, Any]) -> None:
    wrapped = {"taskDefinition": example, "tags": [{"key": "team", "value": "web"}]}
    td = inject_sidecar(wrapped, SETTINGS).task_definition
    assert td["tags"] == [{"key": "team", "value": "web"}]
    with pytest.raises(InjectError, match="server"):
        inject_sidecar(example, SidecarSettings(server="", token="t"))
    with pytest.raises(InjectError, match="exactly one"):
        inject_sidecar(example, SidecarSettings(server="http://s"))
    with pytest.raises(InjectError, match="containerDefinitions"):
        inject_sidecar({"family": "x"}, SETTINGS)


def test_requirement_tables() -> None:
    assert guardduty_agent_memory(256, 512) == 128
    assert guardduty_agent_memory(4096, 20480) == 128
    assert guardduty_agent_memory(8192, 16384) == 256
    assert guardduty_agent_memory(8192, 32768) == 512
    assert guardduty_agent_memory(16384, 32768) == 1024
    assert next_valid_size(256, 600) == (256, 1024)
    assert next_valid_size(256, 4096) == (512, 4096)
    assert next_valid_size(16384, 200_000) is None
    assert not valid_fargate_size(256, 4096)


def test_cli_on_the_example_file(tmp_path: Path) -> None:
    out = tmp_path / "injected.json"
    proc = subprocess.run(
        [sys.executable, "-m", "rtguard.cli", "ecs", "inject-sidecar", str(EXAMPLE), "-o", str(out)],
        env={"RTGUARD_SERVER": "http://127.0.0.1:9", "RTGUARD_TOKEN": "t", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    td = json.loads(out.read_text())
    assert _sidecar(td)["essential"] is False
    assert "memory limit 64 MiB" in proc.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "rtguard.cli", "ecs", "inject-sidecar", str(EXAMPLE)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and "RTGUARD_SERVER" in missing.stderr
