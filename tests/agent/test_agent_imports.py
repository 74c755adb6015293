"""The agent stays light: its entry point must not load the server's or the tools' libraries.

Each of these cost the agent megabytes of resident memory (the budget is 40 MB); an import
added in the wrong place brings them back without anyone noticing, so this test notices.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "sqlalchemy",
    "httpx",
    "rich",
    "click",
    "pygments",
    "fastapi",
    "starlette",
    "uvicorn",
    "yaml",
    "botocore",
)


def test_agent_entry_point_loads_no_heavy_library() -> None:
    code = (
        "import json, sys\n"
        "import rtguard.cli as cli\n"
        "cli._parser().parse_known_args(['agent', '--server', 'http://x', '--token', 't'])\n"
        "import rtguard.agent.app\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert "rtguard" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_http_and_tls_come_after_the_sensor() -> None:
    """Until the eBPF sensor is loaded (libbpf holds ~13 MiB for a moment) the agent must not
    have imported the HTTP client, TLS or the process table: they would sit under that peak and
    raise its high-water mark by several MiB (39.7 → 34.4 MiB peak when they moved)."""
    code = (
        "import json, sys\n"
        "import rtguard.cli, rtguard.agent.app\n"
        "from rtguard.agent.sensors.bpf.sensor import BpfSensor\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    late = {"http.client", "ssl", "rtguard.agent.enrich.process_cache", "rtguard.agent.export.http"}
    assert not loaded & late, sorted(loaded & late)
