"""Publishing: the EventBridge event a webhook receives (every field), OCSF output validated
against the OCSF 1.4.0 schema shipped by ocsf-json-schema, rotated JSON-lines files, syslog,
retries and failure counters, update cadence, destination CRUD and /metrics."""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from botocore.exceptions import ClientError
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from rtguard.findings.formats import OCSF_VERSION, PayloadFormat, ocsf_detection_finding
from rtguard.findings.outputs import JsonlDirectoryDestination
from rtguard.findings.publish import OutletSpec, Publisher
from rtguard.findings.samples import ALL_TYPES, build_sample
from rtguard.testing.receiver import Receiver

from .conftest import ACCOUNT, REGION, LifecycleEnv

SHELL = "Execution:Runtime/ReverseShell"


def _webhook(gd: Any, env: LifecycleEnv, url: str, kind: str = "WEBHOOK") -> str:
    out = gd.create_publishing_destination(
        DetectorId=env.detector, DestinationType=kind, DestinationProperties={"DestinationArn": url}
    )
    destination_id: str = out["DestinationId"]
    return destination_id


def test_webhook_receives_the_eventbridge_event_within_a_second(
    env: LifecycleEnv, gd: Any, receiver: Receiver
) -> None:
    _webhook(gd, env, receiver.url)
    started = time.monotonic()
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=[SHELL])
    [event] = receiver.drain(wait=5)
    assert time.monotonic() - started < 1.0
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert event["version"] == "0"
    assert uuid.UUID(event["id"]).version == 4
    assert event["detail-type"] == "GuardDuty Finding"
    assert event["source"] == "aws.guardduty"
    assert event["account"] == ACCOUNT
    assert event["region"] == REGION
    assert event["resources"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    [stored] = env.store.get_findings(env.detector, gd.list_findings(DetectorId=env.detector)["FindingIds"])
    assert event["detail"] == stored
    assert event["time"] == stored["updatedAt"][:19] + "Z"
    assert receiver.headers[0]["content-type"] == "application/json"


def test_updates_wait_for_the_frequency_unless_immediate(
    env: LifecycleEnv, gd: Any, receiver: Receiver
) -> None:
    _webhook(gd, env, receiver.url)
    gd.update_detector(DetectorId=env.detector, FindingPublishingFrequency="FIFTEEN_MINUTES")
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=[SHELL])
    assert len(receiver.drain(wait=5)) == 1
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=[SHELL])
    assert receiver.drain(wait=1.5) == []
    assert env.lifecycle._publisher is not None
    assert env.lifecycle._publisher.pending_updates() == 1
    gd.update_detector(DetectorId=env.detector, FindingPublishingFrequency="IMMEDIATE")  # rtguard's own
    assert gd.get_detector(DetectorId=env.detector)["FindingPublishingFrequency"] == "IMMEDIATE"
    time.sleep(1.1)  # the publisher caches a detector's frequency for a second
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=[SHELL])
    updates = receiver.drain(wait=5) + receiver.drain(wait=1)
    counts = [u["detail"]["service"]["count"] for u in updates]
    assert 3 in counts and set(counts) <= {2, 3}  # the pending update may be flushed first


def test_update_flush_follows_the_detector_frequency() -> None:
    now = [1000.0]
    sent: list[dict[str, Any]] = []

    class Sink:
        label = "sink"

        def send(self, payload: dict[str, Any]) -> None:
            sent.append(payload)

        def close(self) -> None:
            return None

    publisher = Publisher(frequency_of=lambda _d: "FIFTEEN_MINUTES", clock=lambda: now[0])
    publisher.set_outlets({"s": OutletSpec(destination=Sink(), format=PayloadFormat.FINDING)})
    doc = build_sample(
        SHELL, account_id=ACCOUNT, region=REGION, detector_id="d" * 32, now="2026-01-01T00:00:00.000Z"
    )
    publisher.submit(doc, False)
    publisher.submit(doc, False)
    assert publisher.flush_updates() == 0
    now[0] += 15 * 60
    assert publisher.flush_updates() == 1  # the latest version of each finding, once
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    publisher.stop()
    assert len(sent) == 1


def test_ocsf_output_validates_against_the_ocsf_schema(
    env: LifecycleEnv, gd: Any, receiver: Receiver
) -> None:
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION)).get_class_schema(
        "detection_finding", profiles=["cloud"]
    )
    validator = jsonschema.Draft202012Validator(schema)
    for finding_type in ALL_TYPES:  # every sample, new and updated, archived or not
        doc = build_sample(
            finding_type,
            account_id=ACCOUNT,
            region=REGION,
            detector_id="d" * 32,
            now="2026-01-01T00:00:00.000Z",
        )
        for created in (True, False):
            validator.validate(ocsf_detection_finding(doc, event_id=str(uuid.uuid4()), created=created))
    broken = ocsf_detection_finding(doc, event_id="x")
    broken["severity_id"] = 42
    assert list(validator.iter_errors(broken)), "the validator must be able to fail"
    _webhook(gd, env, receiver.url, "WEBHOOK_OCSF")
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=[SHELL])
    [event] = receiver.drain(wait=5)
    validator.validate(event)
    assert event["class_uid"] == 2004 and event["activity_id"] == 1 and event["severity_id"] == 4
    assert event["finding_info"]["types"] == [SHELL]


def test_s3_and_file_destinations_write_json_lines(env: LifecycleEnv, gd: Any, tmp_path: Path) -> None:
    gd.create_publishing_destination(
        DetectorId=env.detector, DestinationType="S3",
        DestinationProperties={"DestinationArn": "arn:aws:s3:::findings-bucket/gd", "KmsKeyArn": "arn:aws:kms:x"},
    )  # fmt: skip
    _webhook(gd, env, f"file://{tmp_path / 'ocsf'}", "FILE_OCSF")
    gd.create_sample_findings(
        DetectorId=env.detector, FindingTypes=[SHELL, "Impact:Runtime/CryptoMinerExecuted"]
    )
    s3_file = env.export_root / "findings-bucket" / "gd" / "findings.jsonl"
    ocsf_file = tmp_path / "ocsf" / "findings.jsonl"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (_lines(s3_file) == 2 and _lines(ocsf_file) == 2):
        time.sleep(0.05)
    findings = [json.loads(line) for line in s3_file.read_text().splitlines()]
    assert sorted(f["type"] for f in findings) == sorted([SHELL, "Impact:Runtime/CryptoMinerExecuted"])
    assert all(json.loads(line)["class_uid"] == 2004 for line in ocsf_file.read_text().splitlines())


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_files_rotate_and_old_ones_are_removed(tmp_path: Path) -> None:
    destination = JsonlDirectoryDestination(tmp_path, max_bytes=300, max_files=2)
    for i in range(20):
        destination.send({"n": i, "pad": "x" * 100})
    rotated = sorted(tmp_path.glob("findings-*.jsonl"))
    assert len(rotated) == 2
    kept = [
        json.loads(line)["n"]
        for f in [*rotated, tmp_path / "findings.jsonl"]
        for line in f.read_text().splitlines()
    ]
    assert kept == sorted(kept) and kept[-1] == 19


def test_syslog_receives_rfc5424_messages(env: LifecycleEnv, gd: Any, syslog_socket: socket.socket) -> None:
    port = syslog_socket.getsockname()[1]
    _webhook(gd, env, f"udp://127.0.0.1:{port}", "SYSLOG")
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=[SHELL])
    data = syslog_socket.recv(65536).decode()
    match = re.match(r"^<(\d+)>1 \S+ \S+ rtguard - GuardDutyFinding - (\{.*\})$", data)
    assert match, data
    assert int(match.group(1)) == 16 * 8 + 2  # local0, critical (severity 8)
    assert json.loads(match.group(2))["detail"]["type"] == SHELL


def test_failures_are_retried_counted_and_shown(env: LifecycleEnv, gd: Any, receiver: Receiver) -> None:
    destination_id = _webhook(gd, env, receiver.url)
    receiver.status[0] = 500
    gd.create_sample_findings(DetectorId=env.detector, FindingTypes=[SHELL])
    publisher = env.lifecycle._publisher
    assert publisher is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not publisher.stats.snapshot()[2]:
        time.sleep(0.05)
    _published, failures, dropped = publisher.stats.snapshot()
    label = f"webhook:{receiver.url.split('/')[2]}"
    assert failures == {(label, "http_5xx"): 5}
    assert dropped == {(label, "retries_exhausted"): 1}
    described = gd.describe_publishing_destination(DetectorId=env.detector, DestinationId=destination_id)
    assert described["Status"] == "UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY"
    assert described["PublishingFailureStartTimestamp"] > 0
    text = "\n".join(env.lifecycle.metrics_lines())
    assert f'rtguard_publish_failures_total{{destination="{label}",reason="http_5xx"}} 5' in text
    assert f'rtguard_publish_dropped_total{{destination="{label}",reason="retries_exhausted"}} 1' in text


def test_destination_crud_and_bad_input(env: LifecycleEnv, gd: Any, receiver: Receiver) -> None:
    destination_id = _webhook(gd, env, receiver.url)
    listed = gd.list_publishing_destinations(DetectorId=env.detector)["Destinations"]
    assert listed == [{"DestinationId": destination_id, "DestinationType": "WEBHOOK", "Status": "PUBLISHING"}]
    gd.update_publishing_destination(
        DetectorId=env.detector,
        DestinationId=destination_id,
        DestinationProperties={"DestinationArn": receiver.url + "2"},
    )
    described = gd.describe_publishing_destination(DetectorId=env.detector, DestinationId=destination_id)
    assert described["DestinationProperties"]["DestinationArn"] == receiver.url + "2"
    gd.delete_publishing_destination(DetectorId=env.detector, DestinationId=destination_id)
    assert gd.list_publishing_destinations(DetectorId=env.detector)["Destinations"] == []
    bad = [
        ("PIGEON", "http://127.0.0.1:1/x", "destinationType must be one of"),
        ("WEBHOOK", "ftp://example.invalid/x", "http:// or https://"),
        ("S3", "arn:aws:s3:::B!/x", "invalid bucket"),
        ("S3", "arn:aws:s3:::bucket/../../etc", "'..'"),
        ("FILE", "relative/dir", "absolute"),
        ("SYSLOG", "tcp://127.0.0.1:514", "udp://"),
    ]
    for kind, arn, message in bad:
        with pytest.raises(ClientError) as caught:
            _webhook(gd, env, arn, kind)
        assert caught.value.response["Error"]["Code"] == "BadRequestException"
        assert message in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="destinationId does not exist"):
        gd.describe_publishing_destination(DetectorId=env.detector, DestinationId="0" * 32)


def test_server_metrics_show_events_findings_drops_and_publishing(tmp_path: Path) -> None:
    from rtguard.server import ServerConfig, build_server
    from rtguard.testing.apiserver import serve_in_thread

    server = build_server(ServerConfig(data_dir=tmp_path, retention_days=30))
    assert server.lifecycle is not None and server.retention is not None
    assert server.retention.days == 30
    with serve_in_thread(server.app) as url:
        text = httpx.get(url + "/metrics").text
    server.store.close()
    for name in (
        "rtguard_events_received_total",
        "rtguard_findings_total",
        "rtguard_agent_dropped_total",
        "rtguard_publish_failures_total",
        "rtguard_publish_dropped_total",
        "rtguard_findings_suppressed_total",
        "rtguard_findings_expired_total",
    ):
        assert f"# TYPE {name} counter" in text


def test_metrics_show_each_agents_drops_and_coalesced_opens(tmp_path: Path) -> None:
    import json as _json

    from rtguard.server import ServerConfig, build_server
    from rtguard.testing.apiserver import serve_in_thread

    server = build_server(ServerConfig(data_dir=tmp_path))
    token = _json.loads((tmp_path / "credentials.json").read_text())["agent_token"]
    beat = {
        "agent_id": 'a"1',
        "dropped": {"queue_full": 3},
        "coalesced": 41,
        "ring_retried": 2,
        "ring_wakeups": 9,
    }
    # a hostile agent: a newline in its id and in a reason must not start a sample of its own
    forged = {"agent_id": "b\nrtguard_events_received_total 1e9\n#", "dropped": {"x\\\ny": 1}, "coalesced": 2}
    with serve_in_thread(server.app) as url:
        for b in (beat, forged):
            r = httpx.post(url + "/agent/v1/heartbeat", json=b, headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 200
        text = httpx.get(url + "/metrics").text
    server.store.close()
    assert 'rtguard_agent_dropped_total{agent="a\\"1",reason="queue_full"} 3' in text
    assert 'rtguard_agent_coalesced_total{agent="a\\"1"} 41' in text
    assert 'rtguard_agent_ring_retried_total{agent="a\\"1"} 2' in text
    assert 'rtguard_agent_ring_wakeups_total{agent="a\\"1"} 9' in text
    assert (
        'rtguard_agent_dropped_total{agent="b\\nrtguard_events_received_total 1e9\\n#",reason="x\\\\\\ny"} 1'
        in text
    )
    assert 'rtguard_agent_coalesced_total{agent="b\\nrtguard_events_received_total 1e9\\n#"} 2' in text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r'[a-z_]+(\{(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*\})? \S+', s) for s in samples), (
        samples
    )
    assert [s for s in samples if s.startswith("rtguard_events_received_total")] == [
        "rtguard_events_received_total 0"
    ]
