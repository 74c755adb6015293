"""The console as ``rtguard server`` assembles it (``build_server``): mounted at /console/ next to
the API and the agent routes, signed in with the credentials the server bootstrapped, and
showing the server's own loss counters (a rejected agent batch appears on the overview)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from rtguard.server import ServerConfig, build_server
from rtguard.testing.apiserver import serve_in_thread

from .conftest import sign_in


def _loss(html: str, reason: str) -> int:
    found = re.search(rf'<td class="mono">{reason}</td><td class="num">(\d+)</td>', html)
    assert found is not None, reason
    return int(found.group(1))


def test_server_mounts_the_console_with_its_credentials_and_loss_counters(tmp_path: Path) -> None:
    server = build_server(ServerConfig(data_dir=tmp_path))
    cred = server.credentials
    assert cred is not None
    try:
        with serve_in_thread(server.app) as url, httpx.Client(base_url=url, follow_redirects=False) as client:
            assert client.get("/console/").status_code == 303
            assert sign_in(client, cred.aws_access_key_id, cred.aws_secret_access_key).status_code == 303
            before = client.get("/console/").text
            assert f"Account {cred.account_id}" in before
            assert _loss(before, "rejected_invalid") == 0
            bad = httpx.post(
                f"{url}/agent/v1/batches",
                content=b"{not json",
                headers={"Authorization": f"Bearer {cred.agent_token}", "Content-Type": "application/json"},
            )
            assert bad.status_code == 400
            after = client.get("/console/").text
            assert _loss(after, "rejected_invalid") == 1
            assert "ingest: batches rejected" in after and "detection: not processed" in after
            # the API still answers in its own JSON error shape next to the console
            assert client.get("/no-such-path").headers["content-type"].startswith("application/json")
    finally:
        server.store.close()
