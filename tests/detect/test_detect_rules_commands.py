"""Scenario tests for DefenseEvasion:, Persistence: and PrivilegeEscalation:Runtime/SuspiciousCommand."""

from __future__ import annotations

import pytest

from rtguard.testing.behaviour import found
from rtguard.testing.events import exec_event

DE = "DefenseEvasion:Runtime/SuspiciousCommand"
PERSIST = "Persistence:Runtime/SuspiciousCommand"
PRIV = "PrivilegeEscalation:Runtime/SuspiciousCommand"


@pytest.mark.parametrize(
    ("argv", "ftype"),
    [
        (["iptables", "-F"], DE),
        (["ip6tables", "--flush", "INPUT"], DE),
        (["nft", "flush", "ruleset"], DE),
        (["ufw", "disable"], DE),
        (["setenforce", "0"], DE),
        (["auditctl", "-D"], DE),
        (["crontab", "-r"], DE),
        (["crontab", "/tmp/job"], PERSIST),
        (["crontab", "-"], PERSIST),
        (["useradd", "-m", "backdoor"], PERSIST),
        (["adduser", "--disabled-password", "x"], PERSIST),
        (["systemctl", "enable", "evil.service"], PERSIST),
        (["update-rc.d", "evil", "defaults"], PERSIST),
        (["chmod", "u+s", "/tmp/sh"], PRIV),
        (["chmod", "4755", "/tmp/sh"], PRIV),
        (["setcap", "cap_setuid+ep", "/tmp/python3"], PRIV),
        (["nsenter", "-t", "1", "-m", "-u", "-n", "-i", "sh"], PRIV),
    ],
)
def test_suspicious_commands(argv: list[str], ftype: str) -> None:
    (d,) = found(exec_event(argv[0], argv=argv), ftype)
    assert d.context["commandLineExample"] == " ".join(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["iptables", "-L"],
        ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
        ["nft", "list", "ruleset"],
        ["ufw", "status"],
        ["crontab", "-l"],
        ["systemctl", "status", "auditd"],
        ["systemctl", "restart", "nginx"],
        ["chmod", "755", "/tmp/x"],
        ["chmod", "0644", "/tmp/x"],
        ["chmod", "+x", "/tmp/x"],
        ["setcap", "cap_net_bind_service+ep", "/usr/bin/app"],
        ["nsenter", "-t", "4242", "-n", "ip", "a"],
        ["setenforce", "1"],
    ],
)
def test_ordinary_commands_are_not_suspicious(argv: list[str]) -> None:
    e = exec_event(argv[0], argv=argv)
    assert not any(found(e, t) for t in (DE, PERSIST, PRIV))


def test_package_manager_scripts_are_excluded() -> None:
    assert not found(exec_event("useradd", argv=["useradd", "-r", "_apt"], parent="dpkg"), PERSIST)
    assert not found(exec_event("chmod", argv=["chmod", "u+s", "/usr/bin/x"], parent="dpkg"), PRIV)


def test_security_service_stop_names_the_service() -> None:
    (d,) = found(exec_event("systemctl", argv=["systemctl", "stop", "auditd"]), DE)
    assert d.context == {"serviceName": "auditd", "commandLineExample": "systemctl stop auditd"}
    (d,) = found(exec_event("service", argv=["service", "falco", "stop"]), DE)
    assert d.context["serviceName"] == "falco"


def test_ld_preload_from_writable_directory() -> None:
    (d,) = found(exec_event("ls", ld_preload="/tmp/libhook.so"), DE)
    assert d.context == {"ldPreloadValue": "/tmp/libhook.so", "commandLineExample": "ls"}
    assert not found(exec_event("ls", ld_preload="/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"), DE)
    assert not found(exec_event("ls"), DE)
