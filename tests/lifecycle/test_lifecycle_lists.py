"""IPSets and ThreatIntelSets through boto3 (file path and http URL, TXT and STIX), bad input,
and the intel view the detection side reads; plus detector Create/Update/Delete and retention."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rtguard.findings.retention import RetentionTask
from rtguard.findings.samples import build_sample
from rtguard.intel import StoreIntelProvider

from .conftest import ACCOUNT, REGION, LifecycleEnv

STIX = {
    "type": "bundle",
    "id": "bundle--1",
    "objects": [
        {"type": "indicator", "pattern_type": "stix", "pattern": "[domain-name:value = 'c2.bad.example']"},
        {"type": "indicator", "pattern": "[ipv4-addr:value = '203.0.113.9'] OR [ipv4-addr:value ISSUBSET '192.0.2.0/28']"},
        {"type": "ipv6-addr", "value": "2001:db8::1"},
    ],
}  # fmt: skip


@pytest.fixture
def list_server(tmp_path: Path) -> Iterator[str]:
    files = {"/threats.json": json.dumps(STIX).encode(), "/trusted.txt": b"10.0.0.0/8\n"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("content-length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_lists_from_files_and_urls_feed_the_intel_view(
    env: LifecycleEnv, gd: Any, list_server: str, tmp_path: Path
) -> None:
    txt = tmp_path / "threats.txt"
    txt.write_text("198.51.100.0/24  # scanners\nmalware.bad.example\nnot an entry\n")
    tid = gd.create_threat_intel_set(
        DetectorId=env.detector, Name="local", Format="TXT", Location=str(txt), Activate=True, Tags={"k": "v"}
    )["ThreatIntelSetId"]
    stix_id = gd.create_threat_intel_set(
        DetectorId=env.detector,
        Name="remote",
        Format="STIX",
        Location=f"{list_server}/threats.json",
        Activate=True,
    )["ThreatIntelSetId"]
    ipset = gd.create_ip_set(
        DetectorId=env.detector,
        Name="trusted",
        Format="TXT",
        Location=f"{list_server}/trusted.txt",
        Activate=True,
    )["IpSetId"]
    got = gd.get_threat_intel_set(DetectorId=env.detector, ThreatIntelSetId=tid)
    assert (got["Name"], got["Format"], got["Status"], got["Tags"]) == ("local", "TXT", "ACTIVE", {"k": "v"})
    assert gd.get_ip_set(DetectorId=env.detector, IpSetId=ipset)["Status"] == "ACTIVE"
    assert sorted(gd.list_threat_intel_sets(DetectorId=env.detector)["ThreatIntelSetIds"]) == sorted(
        [tid, stix_id]
    )
    assert gd.list_ip_sets(DetectorId=env.detector)["IpSetIds"] == [ipset]
    view = StoreIntelProvider(env.store).view(env.detector)
    assert view.threat_ip("198.51.100.77") is not None
    assert view.threat_ip("203.0.113.9") is not None and view.threat_ip("203.0.113.10") is None
    assert view.threat_ip("192.0.2.15") is not None and view.threat_ip("192.0.2.16") is None
    assert view.threat_ip("2001:db8::1") is not None
    assert view.threat_domain("x.c2.bad.example") is not None
    assert (
        view.threat_domain("malware.bad.example.") is not None and view.threat_domain("bad.example") is None
    )
    assert view.is_trusted("10.1.2.3") and not view.is_trusted("11.0.0.1")
    gd.update_threat_intel_set(DetectorId=env.detector, ThreatIntelSetId=tid, Activate=False)
    assert gd.get_threat_intel_set(DetectorId=env.detector, ThreatIntelSetId=tid)["Status"] == "INACTIVE"
    assert StoreIntelProvider(env.store).view(env.detector).threat_ip("198.51.100.77") is None
    gd.delete_threat_intel_set(DetectorId=env.detector, ThreatIntelSetId=tid)
    gd.delete_ip_set(DetectorId=env.detector, IpSetId=ipset)
    assert gd.list_ip_sets(DetectorId=env.detector)["IpSetIds"] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"Format": "OTX_CSV", "Location": "/tmp/x"}, "not supported by rtguard"),
        ({"Format": "CSV", "Location": "/tmp/x"}, "format must be one of"),
        ({"Format": "TXT", "Location": "relative.txt"}, "absolute file path"),
        ({"Format": "TXT", "Location": "/nonexistent/list.txt"}, "cannot read"),
        ({"Format": "TXT", "Location": "http://127.0.0.1:1/x.txt"}, "cannot fetch"),
        ({"Format": "TXT", "Location": "/x" * 200}, "1 to 300 characters"),
    ],
)
def test_bad_lists_are_rejected(env: LifecycleEnv, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError) as caught:
        env.client(validate=False).create_ip_set(DetectorId=env.detector, Name="n", Activate=True, **kwargs)
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    assert message in caught.value.response["Error"]["Message"]


def test_list_quotas_domains_in_ipsets_and_unknown_ids(env: LifecycleEnv, gd: Any, tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    path.write_text("192.0.2.1\n")
    gd.create_ip_set(DetectorId=env.detector, Name="one", Format="TXT", Location=str(path), Activate=True)
    with pytest.raises(ClientError, match="at most 1 IPSet"):
        gd.create_ip_set(DetectorId=env.detector, Name="two", Format="TXT", Location=str(path), Activate=True)
    path.write_text("bad.example\n")
    with pytest.raises(ClientError, match="not domains"):
        gd.update_ip_set(
            DetectorId=env.detector,
            IpSetId=gd.list_ip_sets(DetectorId=env.detector)["IpSetIds"][0],
            Activate=True,
        )
    with pytest.raises(ClientError, match="id does not exist"):
        gd.get_threat_intel_set(DetectorId=env.detector, ThreatIntelSetId="0" * 32)
    with pytest.raises(ClientError, match="not owned"):
        gd.list_threat_intel_sets(DetectorId="0" * 32)


def test_detector_create_update_delete(env: LifecycleEnv, gd: Any) -> None:
    with pytest.raises(ClientError, match="detector already exists"):
        gd.create_detector(Enable=True)
    gd.delete_detector(DetectorId=env.detector)
    assert gd.list_detectors()["DetectorIds"] == []
    with pytest.raises(ClientError, match="not owned"):
        gd.delete_detector(DetectorId=env.detector)
    detector = gd.create_detector(Enable=True, FindingPublishingFrequency="ONE_HOUR", Tags={"env": "test"})[
        "DetectorId"
    ]
    got = gd.get_detector(DetectorId=detector)
    assert got["Status"] == "ENABLED" and got["FindingPublishingFrequency"] == "ONE_HOUR"
    assert got["Tags"] == {"env": "test"}
    [runtime] = [f for f in got["Features"] if f["Name"] == "RUNTIME_MONITORING"]
    assert runtime["Status"] == "DISABLED"  # as in GuardDuty: off unless asked for
    gd.update_detector(
        DetectorId=detector, Enable=False,
        Features=[{"Name": "RUNTIME_MONITORING", "Status": "ENABLED",
                   "AdditionalConfiguration": [{"Name": "EC2_AGENT_MANAGEMENT", "Status": "DISABLED"}]}],
    )  # fmt: skip
    got = gd.get_detector(DetectorId=detector)
    [runtime] = [f for f in got["Features"] if f["Name"] == "RUNTIME_MONITORING"]
    assert got["Status"] == "DISABLED" and runtime["Status"] == "ENABLED"
    assert {c["Name"]: c["Status"] for c in runtime["AdditionalConfiguration"]}[
        "EC2_AGENT_MANAGEMENT"
    ] == "DISABLED"
    bad: list[tuple[dict[str, Any], str]] = [
        ({"FindingPublishingFrequency": "WEEKLY"}, "findingPublishingFrequency must be one of"),
        ({"Features": [{"Name": "RUNTIME_MONITORING"}, {"Name": "EKS_RUNTIME_MONITORING"}]}, "cannot both"),
        ({"Features": [{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}]}, "not supported by rtguard"),
        ({"Features": [{"Name": "RUNTIME_MONITORING", "AdditionalConfiguration": [{"Name": "X", "Status": "ENABLED"}]}]},
         "additionalConfiguration name"),
    ]  # fmt: skip
    for kwargs, message in bad:
        with pytest.raises(ClientError) as caught:
            gd.update_detector(DetectorId=detector, **kwargs)
        assert message in caught.value.response["Error"]["Message"]


def test_retention_deletes_only_findings_older_than_the_limit(env: LifecycleEnv) -> None:
    for day, finding_type in (
        ("2026-01-01", "Execution:Runtime/ReverseShell"),
        ("2026-03-20", "Impact:Runtime/CryptoMinerExecuted"),
    ):
        doc = build_sample(
            finding_type,
            account_id=ACCOUNT,
            region=REGION,
            detector_id=env.detector,
            now=f"{day}T00:00:00.000Z",
        )
        env.store.upsert_finding(ACCOUNT, env.detector, doc["id"], doc, doc["updatedAt"])
    now = 1774656000.0  # 2026-03-28T00:00:00Z
    task = RetentionTask(env.store, 30, clock=lambda: now)
    assert task.run_once() == 1
    left = env.store.query_findings(env.detector, [], None, 50, None).ids
    assert [d["type"] for d in env.store.get_findings(env.detector, left)] == [
        "Impact:Runtime/CryptoMinerExecuted"
    ]
    assert "rtguard_findings_expired_total 1" in task.metrics_lines()
    with pytest.raises(ValueError):
        RetentionTask(env.store, 0)
