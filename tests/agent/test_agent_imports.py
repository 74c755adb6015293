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


def _modules_after(code: str) -> set[str]:
    """Every module a fresh interpreter has loaded after running ``code``."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_agent_entry_point_loads_no_heavy_library() -> None:
    modules = _modules_after(
        "import rtguard.cli as cli\n"
        "cli._parser().parse_known_args(['agent', '--server', 'http://x', '--token', 't'])\n"
        "import rtguard.agent.app"
    )
    loaded = {m.split(".")[0] for m in modules}
    assert "rtguard" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_http_and_tls_come_after_the_sensor() -> None:
    """Until the eBPF sensor is loaded (libbpf holds ~13 MiB for a moment) the agent must not
    have imported the HTTP client, TLS or the process table: they would sit under that peak and
    raise its high-water mark by several MiB (39.7 → 34.4 MiB peak when they moved)."""
    loaded = _modules_after(
        "import rtguard.cli, rtguard.agent.app\nfrom rtguard.agent.sensors.bpf.sensor import BpfSensor"
    )
    late = {"http.client", "ssl", "rtguard.agent.enrich.process_cache", "rtguard.agent.export.http"}
    assert not loaded & late, sorted(loaded & late)
