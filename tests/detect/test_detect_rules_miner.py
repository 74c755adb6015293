"""Scenario tests for RTG-0001 Impact:Runtime/CryptoMinerExecuted, positive and negative."""

from __future__ import annotations

import pytest

from rtguard.detect import build_engine
from rtguard.model.events import Event
from rtguard.model.findings import FINDING_TYPES_BY_NAME, Detection
from rtguard.testing.events import exec_event

MINER = "Impact:Runtime/CryptoMinerExecuted"
ENGINE, _ = build_engine()


def miner_detections(event: Event) -> list[Detection]:
    return [d for d in ENGINE.evaluate(event) if d.finding_type == MINER]


@pytest.mark.parametrize(
    ("name", "argv", "exe_path"),
    [
        ("xmrig", ["xmrig"], "/usr/local/bin/xmrig"),
        ("XMRig", ["./XMRig", "-c", "config.json"], "/tmp/XMRig"),
        ("kdevtmpfsi", ["/tmp/kdevtmpfsi"], "/tmp/kdevtmpfsi"),
        ("cpuminer-multi", ["cpuminer-multi", "-a", "yespower"], "/opt/cpuminer-multi"),
        (
            "systemd-helper",
            ["./systemd-helper", "-o", "stratum+tcp://pool.example.net:4444", "-u", "w"],
            "/dev/shm/sh",
        ),
        ("kworker", ["kworker", "--url=stratum+ssl://pool.example.net:443"], "/var/tmp/kworker"),
        ("python3", ["python3", "m.py", "stratum2+tcp://pool.example.net:3333"], "/usr/bin/python3"),
        ("sysinit", ["./sysinit", "--donate-level=1", "-o", "pool.example.net:443"], "/tmp/sysinit"),
        ("sysinit", ["./sysinit", "-a", "rx/0", "-o", "pool.example.net:443"], "/tmp/sysinit"),
        ("sysinit", ["./sysinit", "--algo=cryptonight", "--cpu-max-threads-hint", "50"], "/tmp/sysinit"),
    ],
)
def test_miners_are_detected(name: str, argv: list[str], exe_path: str) -> None:
    (d,) = miner_detections(exec_event(name, argv=argv, exe_path=exe_path))
    assert d.rule_id == "RTG-0001"
    assert d.severity is None and FINDING_TYPES_BY_NAME[MINER].severity == 8.0
    assert d.artifact == exe_path
    assert d.context == {}
    assert name in d.description


def test_artifact_prefers_the_executable_hash() -> None:
    (d,) = miner_detections(exec_event("xmrig", exe_sha256="ab" * 32))
    assert d.artifact == "ab" * 32


def test_a_miner_on_the_host_is_detected_too() -> None:
    (d,) = miner_detections(exec_event("xmrig", container_id=None))
    assert "container=host" in d.description


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("grep", ["grep", "-r", "stratum+tcp://", "/etc"]),
        ("cat", ["cat", "/opt/xmrig/config.json"]),
        ("git", ["git", "clone", "https://github.com/xmrig/xmrig"]),
        ("ls", ["ls", "/opt/xmrig"]),
        ("curl", ["curl", "https://example.com/stratum/status"]),
        ("node", ["node", "server.js", "--coin=bitcoin"]),
        ("python3", ["python3", "-m", "gunicorn", "app:app", "--workers", "4"]),
        ("apt-get", ["apt-get", "install", "-y", "cgminer"]),
    ],
)
def test_benign_commands_do_not_fire(name: str, argv: list[str]) -> None:
    assert miner_detections(exec_event(name, argv=argv)) == []


def test_a_shell_carrying_a_miner_command_line_is_not_reported_but_the_miner_is() -> None:
    wrapper = exec_event(
        "dash", argv=["sh", "-c", "./xmrig -o stratum+tcp://pool.example.net:3333"], exe_path="/usr/bin/dash"
    )
    assert miner_detections(wrapper) == []
    runc = exec_event(
        "runc", argv=["runc", "exec", "c1", "./m", "--donate-level=1"], exe_path="/usr/sbin/runc"
    )
    assert miner_detections(runc) == []
    (d,) = miner_detections(exec_event("m", argv=["./m", "--donate-level=1"], exe_path="/tmp/m"))
    assert d.artifact == "/tmp/m"


@pytest.mark.parametrize(
    ("exe_path", "written_after_start"),
    [("/tmp/bash", False), ("/usr/bin/bash", True)],
)
def test_a_miner_renamed_to_a_shell_is_still_reported(exe_path: str, written_after_start: bool) -> None:
    ev = exec_event(
        "bash",
        argv=["bash", "-o", "stratum+tcp://pool.example.net:3333"],
        exe_path=exe_path,
        exe_written_after_start=written_after_start,
    )
    assert [d.rule_id for d in miner_detections(ev)] == ["RTG-0001"]


def test_a_renamed_text_tool_written_after_start_is_not_exempt() -> None:
    argv = ["grep", "-o", "stratum+tcp://pool.example.net:3333"]
    assert miner_detections(exec_event("grep", argv=argv, exe_path="/bin/grep")) == []
    dropped = exec_event("grep", argv=argv, exe_path="/bin/grep", exe_written_after_start=True)
    assert [d.rule_id for d in miner_detections(dropped)] == ["RTG-0001"]


def test_a_miner_found_by_another_of_its_names() -> None:
    script = exec_event("dash", argv=["/bin/sh", "./xmrig"], exe_path="/usr/bin/dash", filename="./xmrig")
    assert [d.rule_id for d in miner_detections(script)] == ["RTG-0001"]
