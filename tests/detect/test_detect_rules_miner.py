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
