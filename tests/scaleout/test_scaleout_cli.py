"""Command-line errors of the scale-out options: a clear message and a failing exit status (2 for
usage errors, 1 for what the server refuses at start), never a trace. Parsed and run in-process:
every case fails before the server would listen."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtguard.cli import _parser, _run_server
from rtguard.testing.nats import NatsServer


def _server(tmp_path: Path, *args: str) -> tuple[int, str]:
    """(exit status, message) of ``rtguard server ARGS``."""
    try:
        parsed = _parser().parse_args(
            ["server", "--listen", "127.0.0.1:1", "--data-dir", str(tmp_path), *args]
        )
        return _run_server(parsed), ""
    except SystemExit as exc:
        if isinstance(exc.code, str):
            return 1, exc.code
        return int(exc.code or 0), ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--bus", "kafka://x"), 2, "expected memory or nats://HOST:PORT"),
        (("--role", "ingest"), 2, "--role ingest shares its work"),
        (("--role", "detect", "--store", "postgresql://u@h/db"), 2, "--role detect shares its work"),
        (("--role", "api", "--bus", "nats://127.0.0.1:1"), 2, "--role api shares its work"),
        (("--role", "everything"), 2, "invalid choice"),
        (("--nats-ack-wait", "0"), 2, "above 0"),
        (("--nats-partitions", "0"), 2, "at least 1"),
        (("--store", "mysql://u@h/db"), 1, "unsupported store 'mysql'"),
        (("--store", "not a url"), 1, "not a database URL"),
    ],
)
def test_bad_scale_out_options_are_clear_errors(
    args: tuple[str, ...], code: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, text = _server(tmp_path, *args)
    text += capsys.readouterr().err
    assert status == code, text
    assert message in text
    assert "Traceback" not in text


def test_an_unreachable_nats_server_is_a_clear_error(nats_server: NatsServer, tmp_path: Path) -> None:
    url = nats_server.url
    nats_server.stop()  # a port nothing listens on any more
    status, text = _server(tmp_path, "--bus", url)
    assert status == 1
    assert f"cannot connect to NATS at {url}" in text
