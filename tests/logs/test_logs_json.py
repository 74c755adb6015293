"""The JSON log formatter: extras become fields, hostile text stays data."""

from __future__ import annotations

import json
import logging

from rtguard.logs import JsonFormatter


def test_extras_and_escaping() -> None:
    rec = logging.LogRecord("rtguard.x", logging.WARNING, __file__, 1, "server unreachable", None, None)
    rec.error = 'boom "\n\x1b[31m'
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "server unreachable" and data["level"] == "warning"
    assert data["error"] == 'boom "\n\x1b[31m'
    assert "args" not in data and "msg" not in data
