"""Scenario tests for the stateful behavioural detectors: NewBinaryExecuted, ReverseShell,
SuspiciousShellCreated and MaliciousFileExecuted, positive and negative."""

from __future__ import annotations

from typing import Any

from rtguard.detect import Engine
from rtguard.detect.detectors.malicious_file import MaliciousFileDetector
from rtguard.findings.build import FindingContext, build_finding
from rtguard.model.events import Event, EventKind, NetPayload
from rtguard.testing.behaviour import found, run
from rtguard.testing.events import (
    BASE_TIME,
    ancestor,
    connect_event,
    event,
    exec_event,
    exit_event,
    file_event,
)

NEW = "Execution:Runtime/NewBinaryExecuted"
REV = "Execution:Runtime/ReverseShell"
SHELL = "Execution:Runtime/SuspiciousShellCreated"
MAL = "Execution:Runtime/MaliciousFileExecuted"
EICAR = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


def test_binary_written_then_executed_names_the_writer() -> None:
    events = [
        file_event("/tmp/payload", name="curl", exe_path="/usr/bin/curl", time=BASE_TIME),
        exec_event("payload", exe_path="/tmp/payload", exe_written_after_start=True),
    ]
    (d,) = run(events, NEW)
    assert d.context == {"modifyingProcess": "/usr/bin/curl", "modifiedAt": "2023-11-14T22:13:20.000Z"}


def test_binary_flagged_by_the_sensor_without_a_seen_write() -> None:
    (d,) = run([exec_event("x", exe_path="/opt/x", exe_written_after_start=True)], NEW)
    assert d.context == {}


def test_image_binaries_host_binaries_and_package_installs_are_not_new() -> None:
    assert not run([exec_event("ls")], NEW)
    assert not run([exec_event("x", exe_path="/tmp/x", exe_written_after_start=True, container_id=None)], NEW)
    installed = [file_event("/usr/bin/jq", name="dpkg"), exec_event("jq", exe_written_after_start=True)]
    assert not run(installed, NEW)
    other_container = [
        file_event("/tmp/p", name="curl", container_id="ab" * 32),
        exec_event("p", exe_path="/tmp/p"),
    ]
    assert not run(other_container, NEW)


def test_reverse_shell_after_outbound_connection() -> None:
    connect = connect_event("127.0.0.1", 4444, name="python3", pid=300, exec_id="exec-300")
    shell = exec_event(
        "sh",
        argv=["sh", "-i"],
        pid=301,
        lineage=[ancestor("python3", pid=300)],
        stdio_sockets=(True, True, True),
    )
    (d,) = run([connect, shell], REV)
    assert d.rule_id == "RTG-0131" and d.context == {}
    same_process = exec_event("sh", pid=300, exec_id="exec-300", stdio_sockets=(True, True, False))
    assert run([connect, same_process], REV)


def test_no_reverse_shell_without_socket_stdio_or_connection() -> None:
    connect = connect_event("127.0.0.1", 4444, name="python3", pid=310, exec_id="exec-310")
    plain = exec_event("sh", pid=311, lineage=[ancestor("python3", pid=310)])
    assert not run([connect, plain], REV)
    journald = exec_event(
        "sh", pid=312, stdio_sockets=(True, True, True), lineage=[ancestor("systemd", pid=1)]
    )
    assert not run([journald], REV)
    not_shell = exec_event(
        "cat", pid=313, lineage=[ancestor("python3", pid=310)], stdio_sockets=(True, True, True)
    )
    assert not run([connect, not_shell], REV)
    half = exec_event(
        "sh", pid=315, lineage=[ancestor("python3", pid=310)], stdio_sockets=(True, False, False)
    )
    assert not run([connect, half], REV)
    gone = exit_event("python3", pid=310, exec_id="exec-310")
    late = exec_event("sh", pid=314, lineage=[ancestor("python3", pid=310)], stdio_sockets=(True, True, True))
    assert not run([connect, gone, late], REV)


def _dup(fd: int, remote: tuple[str, int] = ("127.0.0.1", 4444), **kw: Any) -> Event:
    payload = NetPayload(
        family=2,
        protocol=6,
        local_ip="10.0.0.5",
        local_port=40000,
        remote_ip=remote[0],
        remote_port=remote[1],
        fd=fd,
    )
    return event(EventKind.STDIO_REDIRECT, payload, **kw)


def test_reverse_shell_when_a_process_dups_its_outbound_connection_onto_stdin_and_stdout() -> None:
    """python -c '...s.connect((h,p)); [os.dup2(s.fileno(), f) for f in (0,1,2)]; pty.spawn("sh")':
    the shell sits on a pty, so only the dups show the connection."""
    me: dict[str, Any] = {"name": "python3", "pid": 320, "exec_id": "exec-320"}
    connect = connect_event("127.0.0.1", 4444, **me)
    (d,) = run([connect, _dup(0, **me), _dup(1, **me), _dup(2, **me)], REV)
    assert d.rule_id == "RTG-0131" and d.event.payload.fd == 1  # type: ignore[union-attr]
    assert "put its connection to 127.0.0.1:4444 on its stdin and stdout" in d.description
    assert len(run([connect, _dup(1, **me), _dup(0, **me), _dup(0, **me), _dup(1, **me)], REV)) == 1


def test_no_reverse_shell_from_dups_of_another_connection_or_without_both_fds() -> None:
    me: dict[str, Any] = {"name": "python3", "pid": 330, "exec_id": "exec-330"}
    connect = connect_event("127.0.0.1", 4444, **me)
    assert not run([_dup(0, **me), _dup(1, **me)], REV)  # no outbound connection (inetd-style)
    assert not run([connect, _dup(0, ("10.9.9.9", 80), **me), _dup(1, ("10.9.9.9", 80), **me)], REV)
    assert not run([connect, _dup(0, **me), _dup(2, **me)], REV)  # stdout stays
    other: dict[str, Any] = {"name": "python3", "pid": 331, "exec_id": "exec-331"}
    assert not run([connect, _dup(0, **other), _dup(1, **other)], REV)  # another process's dups
    gone = exit_event("python3", pid=330, exec_id="exec-330")
    assert not run([connect, _dup(0, **me), gone, _dup(1, **me)], REV)


def _listen(name: str, pid: int) -> Event:
    payload = NetPayload(family=2, protocol=6, local_ip="0.0.0.0", local_port=8080)
    return event(EventKind.NET_LISTEN, payload, name=name, pid=pid, exec_id=f"exec-{pid}")


def test_interactive_shell_from_network_service() -> None:
    shell = exec_event("bash", argv=["bash", "-i"], pid=401, lineage=[ancestor("node", pid=400)])
    (d,) = run([_listen("node", 400), shell], SHELL)
    assert d.rule_id == "RTG-0132" and d.context == {}
    bind_shell = exec_event("sh", argv=["sh"], pid=410, exec_id="exec-410")
    assert run([_listen("python3", 410), bind_shell], SHELL)


def test_commands_and_shells_from_non_services_are_not_suspicious() -> None:
    cmd = exec_event(
        "sh", argv=["sh", "-c", "convert x.png y.jpg"], pid=421, lineage=[ancestor("node", pid=420)]
    )
    assert not run([_listen("node", 420), cmd], SHELL)
    plain = exec_event("bash", argv=["bash"], pid=431, lineage=[ancestor("node", pid=430)])
    assert not run([plain], SHELL)
    ssh = exec_event("bash", argv=["-bash"], pid=441, lineage=[ancestor("sshd", pid=440)])
    assert not run([_listen("sshd", 440), ssh], SHELL)


def test_known_malicious_hash_and_the_hook() -> None:
    (d,) = found(exec_event("x", exe_path="/tmp/x", exe_sha256=EICAR), MAL)
    assert d.context == {"threatFilePath": "/tmp/x"} and d.artifact == EICAR
    (evidence,) = d.evidence
    assert evidence.threat_file_sha256 == EICAR and evidence.threat_names == ("EICAR-Test-File",)
    doc: Any = build_finding(
        FindingContext(account_id="1" * 12, region="us-east-1", detector_id="d"), d, now_ns=0
    )
    details = doc["service"]["evidence"]["threatIntelligenceDetails"]
    assert details[0]["threatFileSha256"] == EICAR
    assert not found(exec_event("ls", exe_sha256="00" * 32), MAL)
    hooked = Engine([], [MaliciousFileDetector(lookup=lambda s: "Custom-Bad" if s == "11" * 32 else None)])
    (h,) = hooked.evaluate(exec_event("y", exe_sha256="11" * 32))
    assert h.finding_type == MAL and "Custom-Bad" in h.description
    extra = Engine([], [MaliciousFileDetector(extra={"22" * 32: "Listed"})])
    assert extra.evaluate(exec_event("z", exe_sha256="22" * 32))
