"""Sensor record helpers shared by the /proc-reading sensors."""

from __future__ import annotations

import pytest

from rtguard.agent.sensors.records import stdio_type_of_link
from rtguard.model.events import STDIO_TYPES


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("", ""),
        ("socket:[12345]", "socket"),
        ("pipe:[99]", "pipe"),
        ("/dev/pts/3", "tty"),
        ("/dev/tty", "tty"),
        ("/dev/tty1", "tty"),
        ("/dev/console", "tty"),
        ("/dev/ptmx", "tty"),
        ("/dev/null", "char"),
        ("/var/log/app.log", "file"),
        ("/var/log/app.log (deleted)", "file"),
        ("anon_inode:[eventfd]", "other"),
        ("net:[4026531840]", "other"),
    ],
)
def test_stdio_type_of_link(target: str, kind: str) -> None:
    assert stdio_type_of_link(target) == kind
    assert kind in STDIO_TYPES
