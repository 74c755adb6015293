"""Scenario tests for the three SensitiveFileModified types, positive and negative."""

from __future__ import annotations

import pytest

from rtguard.model.events import EventKind
from rtguard.testing.behaviour import found
from rtguard.testing.events import file_event

PERSIST = "Persistence:Runtime/SensitiveFileModified"
PRIV = "PrivilegeEscalation:Runtime/SensitiveFileModified"
DE = "DefenseEvasion:Runtime/SensitiveFileModified"
K = EventKind


@pytest.mark.parametrize(
    ("path", "kind", "ftype", "operation"),
    [
        ("/etc/cron.d/job", K.FILE_WRITE, PERSIST, "Write"),
        ("/var/spool/cron/crontabs/root", K.FILE_WRITE, PERSIST, "Write"),
        ("/root/.ssh/authorized_keys", K.FILE_WRITE, PERSIST, "Write"),
        ("/home/ec2-user/.ssh/authorized_keys", K.FILE_WRITE, PERSIST, "Write"),
        ("/etc/systemd/system/evil.service", K.FILE_SYMLINK, PERSIST, "Symlink"),
        ("/etc/sudoers", K.FILE_WRITE, PRIV, "Write"),
        ("/etc/sudoers.d/90-x", K.FILE_WRITE, PRIV, "Write"),
        ("/etc/shadow", K.FILE_UNLINK, PRIV, "Delete"),
        ("/etc/ld.so.preload", K.FILE_WRITE, PRIV, "Write"),
        ("/var/log/auth.log", K.FILE_UNLINK, DE, "Delete"),
        ("/var/log/secure", K.FILE_RENAME, DE, "Rename"),
        ("/etc/audit/auditd.conf", K.FILE_WRITE, DE, "Write"),
    ],
)
def test_sensitive_files(path: str, kind: EventKind, ftype: str, operation: str) -> None:
    (d,) = found(file_event(path, kind=kind, name="python3"), ftype)
    assert d.context["fileOperation"] == operation
    assert d.context["filePath"] == path


def test_rename_onto_sensitive_file_names_both_paths() -> None:
    e = file_event("/tmp/x", kind=K.FILE_RENAME, target_path="/etc/sudoers", name="mv")
    (d,) = found(e, PRIV)
    assert d.context == {"fileOperation": "Rename", "filePath": "/tmp/x", "relatedFilePaths": "/etc/sudoers"}


@pytest.mark.parametrize(
    ("path", "kind", "name", "parent"),
    [
        ("/etc/passwd", K.FILE_WRITE, "useradd", "bash"),
        ("/etc/shadow", K.FILE_WRITE, "passwd", "bash"),
        ("/etc/sudoers.d/x", K.FILE_WRITE, "python3", "dpkg"),
        ("/var/spool/cron/crontabs/root", K.FILE_WRITE, "crontab", "bash"),
        ("/etc/systemd/system/x.service", K.FILE_SYMLINK, "systemctl", "bash"),
        ("/var/log/syslog", K.FILE_WRITE, "rsyslogd", "systemd"),
        ("/var/log/app.log", K.FILE_WRITE, "python3", "bash"),
        ("/var/log/syslog.1", K.FILE_RENAME, "logrotate", "cron"),
        ("/etc/hosts", K.FILE_WRITE, "python3", "bash"),
        ("/tmp/cron.d", K.FILE_WRITE, "python3", "bash"),
    ],
)
def test_ordinary_changes_are_not_reported(path: str, kind: EventKind, name: str, parent: str) -> None:
    e = file_event(path, kind=kind, name=name, parent=parent)
    assert not any(found(e, t) for t in (PERSIST, PRIV, DE))


def test_chmod_is_not_one_of_the_five_operations() -> None:
    assert not found(file_event("/etc/sudoers", kind=K.FILE_CHMOD, name="python3"), PRIV)
