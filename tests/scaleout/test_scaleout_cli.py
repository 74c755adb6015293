"""Command-line errors of the scale-out options: clear messages and a failing exit status (2 for
usage errors, 1 for what the server refuses at start), never a trace."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rtguard.testing.agentbatch import code_env
from rtguard.testing.nats import NatsServer


def _server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtguard.cli", "server", "--listen", "127.0.0.1:1", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**code_env(), "PATH": "/usr/bin:/bin"},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--bus", "kafka://x"), 2, "expected memory or nats://HOST:PORT"),
        (("--role", "ingest"), 2, "--role ingest shares its work"),
        (("--role", "detect", "--store", "postgresql://u@h/db"), 2, "--role detect shares its work"),
        (("--role", "api", "--bus", "nats://127.0.0.1:1"), 2, "--role api shares its work"),
        (("--role", "everything"), 2, "invalid choice"),
        (("--nats-ack-wait", "0"), 2, "above 0"),
        (("--store", "mysql://u@h/db"), 1, "unsupported store 'mysql'"),
        (("--store", "not a url"), 1, "not a database URL"),
    ],
)
def test_bad_scale_out_options_are_clear_errors(
    args: tuple[str, ...], code: int, message: str, tmp_path: object
) -> None:
    done = _server("--data-dir", str(tmp_path), *args)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_nats_server_is_a_clear_error(nats_server: NatsServer, tmp_path: object) -> None:
    url = nats_server.url
    nats_server.stop()  # a port nothing listens on any more
    done = _server("--data-dir", str(tmp_path), "--bus", url)
    assert done.returncode != 0
    assert f"cannot connect to NATS at {url}" in done.stderr
    assert "Traceback" not in done.stderr
