"""`rtguard agent` file-prefix options: defaults, replacement, additions, and clear errors."""

from __future__ import annotations

import subprocess
import sys

from rtguard.agent.sensors.bpf.sensor import DEFAULT_FILE_PREFIXES
from rtguard.cli import _file_prefixes


def test_no_option_keeps_the_sensors_defaults() -> None:
    assert _file_prefixes("", []) is None


def test_replace_then_add_without_duplicates() -> None:
    assert _file_prefixes("/etc/,/app/,", ["/srv/", "/app/"]) == ("/etc/", "/app/", "/srv/")


def test_add_extends_the_defaults() -> None:
    got = _file_prefixes("", ["/data/"])
    assert got is not None and got[: len(DEFAULT_FILE_PREFIXES)] == DEFAULT_FILE_PREFIXES
    assert got[-1] == "/data/"


def test_a_prefix_the_kernel_cannot_hold_is_a_clear_error() -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "rtguard.cli", "agent", "--server", "http://127.0.0.1:9", "--token", "t",
            "--sensor", "ebpf", "--file-prefixes", "/" + "x" * 300,
        ],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert "bad file prefixes" in out.stderr and "bytes" in out.stderr
