"""``rtguard usage`` against a real server (``build_server``, uvicorn on 127.0.0.1) that metered
real heartbeats, including a resource name written as rich markup (printed literally)."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import boto3
import httpx
import pytest
from rich.console import Console

from rtguard.cli import main
from rtguard.server import Server, ServerConfig, build_server
from rtguard.testing.apiserver import serve_in_thread
from rtguard.usage.accrual import Feature
from rtguard.usage.cli import FEATURES, UsageSummary, fetch_summary, render

HOSTILE = "[bold red]i-0evil[/bold red][link=http://x]"
NCPU = os.cpu_count() or 1


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Server, str, Path]]:
    server = build_server(ServerConfig(data_dir=tmp_path, region="us-east-1"))
    with serve_in_thread(server.app) as url:
        assert server.credentials is not None
        headers = {"authorization": f"Bearer {server.credentials.agent_token}"}
        for i in range(3):
            for agent, instance in (("a-evil", HOSTILE), ("a-good", "i-0good")):
                beat = {"agent_id": agent, "agent_version": "0.1.0", "instance_id": instance,
                        "hostname": "node", "host_vcpus": NCPU, "resource": {}, "time": time.time()}  # fmt: skip
                assert httpx.post(url + "/agent/v1/heartbeat", json=beat, headers=headers).status_code == 200
            time.sleep(0.25 if i < 2 else 0)
        yield server, url, tmp_path
    server.store.close()


def test_summary_matches_the_api(running: tuple[Server, str, Path]) -> None:
    server, url, _ = running
    cred = server.credentials
    assert cred is not None
    gd = boto3.client("guardduty", endpoint_url=url, region_name=cred.region, aws_access_key_id=cred.aws_access_key_id,
                      aws_secret_access_key=cred.aws_secret_access_key)  # fmt: skip
    summary = fetch_summary(gd, cred.detector_id, cred.account_id)
    assert set(summary.resources) == {
        ("EC2_RUNTIME_MONITORING", HOSTILE),
        ("EC2_RUNTIME_MONITORING", "i-0good"),
    }
    hours, usd = summary.features["EC2_RUNTIME_MONITORING"]
    rounding = Decimal("0.00000002")  # each amount is rounded to 8 decimals on its own
    assert abs(hours - sum(h for h, _ in summary.resources.values())) <= rounding and hours > 0
    assert abs(usd - sum(u for _, u in summary.resources.values())) <= rounding and usd > 0
    assert summary.trial_days == {
        "EC2_RUNTIME_MONITORING": 30,
        "EKS_RUNTIME_MONITORING": 30,
        "FARGATE_RUNTIME_MONITORING": 30,
    }
    # Two 0.25 s intervals per agent on the host's vCPUs, well under a second each.
    assert (
        Decimal("0.4") * NCPU / 3600
        <= summary.resources[("EC2_RUNTIME_MONITORING", "i-0good")][0]
        <= Decimal(2 * NCPU) / 3600
    )


def test_cli_prints_tables_with_hostile_names_literally(
    running: tuple[Server, str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _server, url, data_dir = running
    monkeypatch.setenv("COLUMNS", "220")
    code = main(["usage", "--data-dir", str(data_dir), "--endpoint-url", url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert HOSTILE in out and "i-0good" in out  # markup printed as text, not interpreted
    assert "EC2_RUNTIME_MONITORING" in out and "Total" in out


def test_render_formats_and_orders_by_cost() -> None:
    summary = UsageSummary(account_id="123456789012")
    summary.features = {"EC2_RUNTIME_MONITORING": (Decimal("12.5"), Decimal("0.0252")),
                        "FARGATE_RUNTIME_MONITORING": (Decimal("1"), Decimal("0.002"))}  # fmt: skip
    summary.resources = {("EC2_RUNTIME_MONITORING", "i-cheap"): (Decimal("0.5"), Decimal("0.001")),
                         ("EC2_RUNTIME_MONITORING", "i-dear"): (Decimal("12"), Decimal("0.0242")),
                         ("FARGATE_RUNTIME_MONITORING", "arn:aws:ecs:task/[x]"): (Decimal(1), Decimal("0.002"))}  # fmt: skip
    summary.trial_days = {"EC2_RUNTIME_MONITORING": 12}
    buffer = io.StringIO()
    render(summary, Console(file=buffer, width=200, color_system=None))
    text = buffer.getvalue()
    assert "12.5000" in text and "0.027200" in text  # the total, to the micro-dollar
    assert text.index("i-dear") < text.index("arn:aws:ecs:task/[x]") < text.index("i-cheap")
    ec2_line = next(
        line
        for line in text.splitlines()
        if line.strip().startswith("│ EC2_RUNTIME_MONITORING") and "12.5000" in line
    )
    assert "12" in ec2_line.rsplit("│", 2)[-2]
    empty = io.StringIO()
    render(UsageSummary(account_id="123456789012"), Console(file=empty, width=120))
    assert "No monitored usage in the last 30 days." in empty.getvalue()


def test_cli_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["usage", "--data-dir", str(tmp_path / "nowhere")]) == 1
    assert "cannot read credentials" in capsys.readouterr().out
    build_server(ServerConfig(data_dir=tmp_path, region="us-east-1")).store.close()
    assert main(["usage", "--data-dir", str(tmp_path), "--endpoint-url", "http://127.0.0.1:9"]) == 1
    assert "did not answer" in capsys.readouterr().out


def test_feature_names_match_the_meter() -> None:
    assert set(FEATURES) == {f.value for f in Feature}
