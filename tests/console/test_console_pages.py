"""What each console page shows, over real HTTP against the seeded store: overview (severity
bands, types, newest findings, agent health, drops by reason), the findings list (filters and
paging), a finding's detail (resource, process, lineage, context, count and times, JSON), archive
and unarchive through the API's lifecycle handlers, coverage with what needs a relaunch or a
redeploy, agents (sensor mode, blind spots, counters, drops, heartbeat), security headers and
clear errors for bad input."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
from botocore.config import Config

from rtguard.console.headers import CSP
from rtguard.console.render import link, severity_band

from .conftest import HOSTILE_ID, REGION, TYPES, ConsoleEnv, csrf_of

_ROW_LINK = re.compile(r'href="/console/finding\?id=([^"]+)"')


def _ids(html: str) -> list[str]:
    return [parse_qs(f"id={m}")["id"][0] for m in _ROW_LINK.findall(html.replace("&amp;", "&"))]


def _active(env: ConsoleEnv) -> dict[str, dict[str, Any]]:
    return {i: d for i, d in env.findings.items() if not d["service"]["archived"]}


def _all_pages(client: httpx.Client, params: dict[str, str]) -> list[str]:
    found: list[str] = []
    url = link("/console/findings", **params)
    for _ in range(10):
        response = client.get(url)
        assert response.status_code == 200, response.text
        found += _ids(response.text)
        nxt = re.search(r'href="([^"]+)" rel="next"', response.text)
        if nxt is None:
            return found
        url = nxt.group(1).replace("&amp;", "&")
    raise AssertionError("paging did not end")


def test_overview_shows_bands_types_newest_agents_and_drops(
    console_env: ConsoleEnv, browser_session: httpx.Client
) -> None:
    response = browser_session.get("/console/")
    assert response.status_code == 200
    html = response.text
    active = _active(console_env)
    for band in ("Critical", "High", "Medium", "Low"):
        n = sum(1 for d in active.values() if severity_band(d["severity"]) == band)
        assert re.search(rf'<span class="n">{n}</span><span class="l">{band}</span>', html), band
    assert f'<span class="n">{len(active)}</span><span class="l">Active findings</span>' in html
    for type_, *_ in TYPES:
        n = sum(1 for d in active.values() if d["type"] == type_)
        assert re.search(rf">{re.escape(type_)}</a></td>\s*<td class=\"num\">{n}</td>", html), type_
    # newest first: the hostile finding was created last
    assert _ids(html)[0] == HOSTILE_ID
    assert len(_ids(html)) == 10
    # agents and their health: the sidecar's last heartbeat is 600 s old, beyond the 60 s timeout
    assert '<span class="n">2/3</span><span class="l">Agents reporting</span>' in html
    assert 'agent-sidecar</a></td>\n      <td><span class="health h-bad">not reporting</span>' in html
    # nothing lost silently: every drop reason with its total, and the total
    assert '<span class="n">12</span><span class="l">Events dropped</span>' in html
    assert '<td class="mono">queue_full</td><td class="num">7</td><td class="num">1</td>' in html
    assert '<td class="mono">sensor_ringbuf_full</td><td class="num">3</td>' in html
    assert "12 events were dropped by agents" in html
    assert '<span class="n">1/2</span><span class="l">Resources healthy</span>' in html


def test_findings_list_defaults_to_active_and_pages_through_all(
    console_env: ConsoleEnv, browser_session: httpx.Client
) -> None:
    first = browser_session.get("/console/findings")
    assert len(_ids(first.text)) == 25
    assert 'rel="next"' in first.text
    every = _all_pages(browser_session, {})
    assert sorted(every) == sorted(_active(console_env))
    assert len(every) == len(set(every))
    assert sorted(_all_pages(browser_session, {"status": "all"})) == sorted(console_env.findings)
    archived = [i for i, d in console_env.findings.items() if d["service"]["archived"]]
    assert archived and sorted(_all_pages(browser_session, {"status": "archived"})) == sorted(archived)


def test_findings_filters_by_type_severity_and_resource(
    console_env: ConsoleEnv, browser_session: httpx.Client
) -> None:
    active = _active(console_env)
    miner = TYPES[0][0]
    assert sorted(_all_pages(browser_session, {"type": miner})) == sorted(
        i for i, d in active.items() if d["type"] == miner
    )
    for severity in ("CRITICAL", "HIGH", "MEDIUM", "LOW"):
        want = sorted(i for i, d in active.items() if severity_band(d["severity"]).upper() == severity)
        assert sorted(_all_pages(browser_session, {"severity": severity})) == want, severity
    staging = sorted(i for i, d in active.items() if d["resource"]["ecsClusterDetails"]["name"] == "staging")
    assert sorted(_all_pages(browser_session, {"rf": "cluster", "resource": "stag"})) == staging
    assert sorted(_all_pages(browser_session, {"rf": "cluster", "resource": "stag*"})) == staging
    task = next(iter(active.values()))["resource"]["ecsClusterDetails"]["taskDetails"]["arn"]
    assert _all_pages(browser_session, {"rf": "task", "resource": task}) == [next(iter(active))]
    page = browser_session.get("/console/findings", params={"type": miner, "severity": "HIGH"}).text
    assert f'<option value="{miner.replace("&", "&amp;")}" selected>' in page
    assert '<option value="HIGH" selected>' in page


def test_finding_detail_shows_resource_process_lineage_context_and_json(
    console_env: ConsoleEnv, browser_session: httpx.Client
) -> None:
    fid, doc = next((i, d) for i, d in console_env.findings.items() if d["service"]["count"] == 2)
    html = browser_session.get("/console/finding", params={"id": fid}).text
    proc = doc["service"]["runtimeDetails"]["process"]
    assert '<th>Count</th><td class="mono pre">2</td>' in html
    assert f'<th>First seen</th><td class="mono pre">{doc["service"]["eventFirstSeen"]}</td>' in html
    assert f'<th>Last seen</th><td class="mono pre">{doc["service"]["eventLastSeen"]}</td>' in html
    assert doc["service"]["eventFirstSeen"] != doc["service"]["eventLastSeen"]
    assert f'<th>Executable</th><td class="mono pre">{proc["executablePath"]}</td>' in html
    assert f'<th>SHA-256</th><td class="mono pre">{proc["executableSha256"]}</td>' in html
    assert '<td class="mono">sh</td><td class="mono">/bin/sh</td>' in html  # lineage, parent first
    assert '<td class="mono">node</td><td class="mono">/usr/local/bin/node</td>' in html
    assert (
        f'<th>commandLineExample</th><td class="mono pre">{doc["service"]["runtimeDetails"]["context"]["commandLineExample"]}</td>'
        in html
    )
    assert (
        f'<th>ecsClusterDetails.taskDetails.arn</th><td class="mono pre">{doc["resource"]["ecsClusterDetails"]["taskDetails"]["arn"]}</td>'
        in html
    )
    assert f"&#34;id&#34;: &#34;{fid}&#34;" in html  # the JSON document
    assert '<input type="hidden" name="action" value="archive">' in html


def test_archive_and_unarchive_go_through_the_lifecycle(
    console_env: ConsoleEnv, browser_session: httpx.Client
) -> None:
    fid = sorted(_active(console_env))[0]
    detail = browser_session.get("/console/finding", params={"id": fid})
    token = csrf_of(detail.text.split('action="/console/finding/archive"', 1)[1])
    response = browser_session.post(
        "/console/finding/archive", data={"csrf": token, "id": fid, "action": "archive"}
    )
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert target.path == "/console/finding" and parse_qs(target.query) == {"id": [fid], "done": ["archived"]}
    assert console_env.store.get_findings(console_env.detector, [fid])[0]["service"]["archived"] is True
    shown = browser_session.get(response.headers["location"]).text
    assert "Finding archived." in shown and '<input type="hidden" name="action" value="unarchive">' in shown
    assert fid not in _all_pages(browser_session, {})
    assert fid in _all_pages(browser_session, {"status": "archived"})
    again = browser_session.post(
        "/console/finding/archive", data={"csrf": token, "id": fid, "action": "unarchive"}
    )
    assert again.status_code == 303
    assert console_env.store.get_findings(console_env.detector, [fid])[0]["service"]["archived"] is False
    assert fid in _all_pages(browser_session, {})
    bad = browser_session.post(
        "/console/finding/archive", data={"csrf": token, "id": fid, "action": "delete"}
    )
    assert bad.status_code == 400 and "action must be archive or unarchive" in bad.text
    unknown = browser_session.post(
        "/console/finding/archive", data={"csrf": token, "id": "0" * 32, "action": "archive"}
    )
    assert unknown.status_code == 404


def test_coverage_shows_status_issues_and_what_to_redeploy(browser_session: httpx.Client) -> None:
    html = browser_session.get("/console/coverage").text
    assert '<span class="status st-bad">UNHEALTHY</span>' in html
    assert '<span class="status st-ok">HEALTHY</span>' in html
    assert '<b>Relaunch task(s):</b> <span class="mono">task-aaa, task-bbb, task-ccc</span>' in html
    assert '<b>Redeploy service(s):</b> <span class="mono">checkout</span>' in html
    assert "Service &#39;checkout&#39; requires a new deployment" in html
    assert "AUTO_MANAGED" in html and "MANUAL" in html
    assert html.index("prod</td>") < html.index("i-0123456789abcdef0</td>")  # unhealthy first
    healthy = browser_session.get("/console/coverage", params={"status": "HEALTHY"}).text
    assert "i-0123456789abcdef0</td>" in healthy and "prod</td>" not in healthy
    assert browser_session.get("/console/coverage", params={"status": "SICK"}).status_code == 400


def test_agents_show_sensor_blind_spots_counters_drops_and_heartbeat(browser_session: httpx.Client) -> None:
    html = browser_session.get("/console/agents").text
    sidecar = html[html.index("agent-sidecar</span>") :]
    sidecar = sidecar[: sidecar.index("</section>")]
    assert '<span class="health h-bad">not reporting</span>' in sidecar
    assert "<th>Sensor mode</th><td>sidecar</td>" in sidecar
    assert "<li>file events</li><li>short-lived connections</li>" in sidecar
    assert "(10 min ago)" in sidecar
    healthy = html[html.index("agent-healthy</span>") :]
    healthy = healthy[: healthy.index("</section>")]
    assert '<span class="health h-ok">reporting</span>' in healthy
    assert "<th>Sensor mode</th><td>ebpf</td>" in healthy
    assert '<th>Events sent</th><td class="num">1190</td>' in healthy
    assert '<th class="mono">dropped: queue_full</th><td class="num bad">7</td>' in healthy
    assert '<th>Dropped (total)</th><td class="num bad">10</td>' in healthy
    assert "Nothing reported missing (the eBPF sensor sees every event class)" in healthy


def test_security_headers_on_every_kind_of_response(
    console_env: ConsoleEnv, browser_session: httpx.Client
) -> None:
    with console_env.client() as anonymous:
        responses = [
            browser_session.get("/console/"),
            browser_session.get("/console/nope"),
            browser_session.get("/console/static/console.css"),
            anonymous.get("/console/login"),
            anonymous.get("/console/findings"),
        ]
    for response in responses:
        assert response.headers["content-security-policy"] == CSP
        assert "default-src 'self'" in CSP and "script-src 'none'" in CSP
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert responses[0].headers["cache-control"] == "no-store"
    assert responses[2].status_code == 200 and responses[2].headers["content-type"].startswith("text/css")
    assert ".sev-high" in responses[2].text


def test_bad_input_gets_a_clear_error_page(browser_session: httpx.Client) -> None:
    cases = [
        (
            browser_session.get("/console/findings", params={"token": "not-a-token"}),
            400,
            "nextToken is not valid",
        ),
        (
            browser_session.get("/console/findings", params={"status": "deleted"}),
            400,
            "status filter must be one of",
        ),
        (browser_session.get("/console/finding"), 400, "1 to 300 characters"),
        (browser_session.get("/console/finding", params={"id": "f" * 32}), 404, "no finding with that id"),
        (browser_session.get("/console/logout"), 405, "cannot be used that way"),
        (
            browser_session.post(
                "/console/finding/archive", content=b"{}", headers={"content-type": "application/json"}
            ),
            400,
            "only HTML form posts",
        ),
        (
            browser_session.post(
                "/console/finding/archive",
                content=b"a=" + b"x" * 20000,
                headers={"content-type": "application/x-www-form-urlencoded"},
            ),
            400,
            "larger than",
        ),
        (
            browser_session.post(
                "/console/finding/archive",
                content=b"\xff\xfe=1",
                headers={"content-type": "application/x-www-form-urlencoded"},
            ),
            400,
            "could not be read",
        ),
    ]
    for response, status, text in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert text in response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text


def test_console_and_api_share_one_archive_state(
    console_env: ConsoleEnv, browser_session: httpx.Client
) -> None:
    gd = boto3.client(
        "guardduty",
        endpoint_url=console_env.url,
        region_name=REGION,
        aws_access_key_id=console_env.key_id,
        aws_secret_access_key=console_env.secret,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    fid = sorted(_active(console_env))[-1]
    token = csrf_of(browser_session.get("/console/").text)
    assert (
        browser_session.post(
            "/console/finding/archive", data={"csrf": token, "id": fid, "action": "archive"}
        ).status_code
        == 303
    )
    assert (
        gd.get_findings(DetectorId=console_env.detector, FindingIds=[fid])["Findings"][0]["Service"][
            "Archived"
        ]
        is True
    )
    gd.unarchive_findings(DetectorId=console_env.detector, FindingIds=[fid])
    assert fid in _all_pages(browser_session, {})
    assert (
        '<input type="hidden" name="action" value="archive">'
        in browser_session.get("/console/finding", params={"id": fid}).text
    )
