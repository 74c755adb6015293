"""The scale-out mode as real processes: ``rtguard server --role ingest|detect|api`` over one
PostgreSQL database and one NATS JetStream server. An agent batch posted to the ingest process
becomes a finding read through boto3 from the API process within seconds (and a heartbeat, coverage); the detection process
killed (SIGKILL) mid-stream and restarted loses nothing and counts nothing twice; with NATS
away, ingest refuses (503) rather than acks, and the agent's retry lands once NATS is back."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rtguard.model.events import Event
from rtguard.testing.agentbatch import guardduty, miner_event, miner_findings, post_batch, wait_for
from rtguard.testing.nats import NatsServer
from rtguard.testing.postgres import PostgresServer
from rtguard.testing.scaleout import ScaleOut, scale_out

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def stack(postgres_server: PostgresServer, nats_server: NatsServer, tmp_path: Path) -> Iterator[ScaleOut]:
    db = postgres_server.create_database()
    # A short ack wait, so what a killed detector held is redelivered within the test.
    with scale_out(tmp_path, postgres_server.url(db), nats_server.url, ("--nats-ack-wait", "2")) as s:
        yield s


def _batch(seq: int, per_batch: int = 4) -> list[Event]:
    """Miner execs in 3 containers; each (container, exe) pair is one finding, seen many times."""
    return [
        miner_event(
            T0 + seq * 100 + i, container=f"{(seq + i) % 3:064x}", exe=f"/tmp/m{(seq + i) % 3}-{i % 2}"
        )
        for i in range(per_batch)
    ]


def _counts(gd: Any, detector: str) -> Counter[str]:
    return Counter(
        {
            f["Service"]["RuntimeDetails"]["Process"]["ExecutablePath"]: f["Service"]["Count"]
            for f in miner_findings(gd, detector)
        }
    )


def _expected(seqs: range) -> Counter[str]:
    return Counter(e.process.exe_path for seq in seqs for e in _batch(seq))


def _metric(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ")]
    assert values, f"{name} not in /metrics of {url}"
    return values[0]


def test_roles_run_apart_and_a_killed_detector_loses_and_duplicates_nothing(stack: ScaleOut) -> None:
    cred = stack.api.credentials()
    gd = guardduty(stack.api.url, cred)
    detector = cred["detector_id"]
    token = cred["agent_token"]
    # Each role serves only its own part.
    assert httpx.get(stack.ingest.url + "/healthz").json()["role"] == "ingest"
    assert httpx.get(stack.api.url + "/agent/v1/batches").status_code in (404, 405)
    assert httpx.post(stack.detect.url + "/agent/v1/batches", content=b"{}").status_code == 404

    started = time.monotonic()
    r = post_batch(stack.ingest.url, token, "agent-1", 1, _batch(1))
    assert r.status_code == 200 and r.json() == {"accepted": 4, "duplicate": False, "seq": 1}
    wait_for(lambda: _counts(gd, detector) == _expected(range(1, 2)), 10, "the first findings via the API")
    latency = time.monotonic() - started
    assert latency < 10

    # Coverage: the ingest process hears the heartbeat, the API process reports it.
    beat = {"agent_id": "agent-1", "agent_version": "0.1.0", "instance_id": "i-0abc",
            "resource": {"mode": "host", "cluster_arn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"}}  # fmt: skip
    answer = httpx.post(stack.ingest.url + "/agent/v1/heartbeat", json=beat,
                        headers={"authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    assert answer.status_code == 200 and answer.json()["enabled"] is True
    wait_for(
        lambda: [r for r in gd.list_coverage(DetectorId=detector)["Resources"]
                 if r["ResourceId"] == "i-0abc" and r["CoverageStatus"] == "HEALTHY"],
        15,
        "the host's coverage through the API",
    )  # fmt: skip

    # Batches keep coming while the detection process is killed and restarted.
    last = 60
    errors: list[str] = []

    def agent() -> None:
        for seq in range(2, last + 1):
            resp = post_batch(stack.ingest.url, token, "agent-1", seq, _batch(seq))
            if resp.status_code != 200:
                errors.append(f"{seq}: {resp.status_code} {resp.text}")
            time.sleep(0.02)

    sender = threading.Thread(target=agent)
    sender.start()
    wait_for(lambda: _counts(gd, detector).total() > _expected(range(1, 6)).total(), 20, "detection to run")
    # Frozen first, so messages delivered to its waiting pull are held unacked; then killed.
    detect_proc = stack.detect.proc
    assert detect_proc is not None
    detect_proc.send_signal(signal.SIGSTOP)
    time.sleep(0.5)
    stack.detect.stop(signal.SIGKILL)  # mid-stream: no chance to ack what it held
    stack.detect.start()
    sender.join(120)
    assert not errors
    # An agent retry of an acked batch is a duplicate and changes nothing.
    again = post_batch(stack.ingest.url, token, "agent-1", 7, _batch(7))
    assert again.status_code == 200 and again.json()["duplicate"] is True

    want = _expected(range(1, last + 1))
    wait_for(lambda: _counts(gd, detector) == want, 60, f"every event counted once ({want.total()})")
    time.sleep(2.0)  # anything still redelivered would show up now
    assert _counts(gd, detector) == want
    assert _metric(stack.ingest.url, "rtguard_events_received_total") == want.total()
    # The restarted process picked up what arrived, or was in flight, while its predecessor died.
    assert _metric(stack.detect.url, "rtguard_events_processed_total") > 0
    redelivered = _metric(stack.detect.url, "rtguard_detection_redeliveries_total")
    print(f"first finding visible through the API after {latency:.2f} s; {redelivered:.0f} redeliveries")


def test_ingest_refuses_while_nats_is_away_and_the_retry_lands(
    stack: ScaleOut, nats_server: NatsServer
) -> None:
    cred = stack.api.credentials()
    gd = guardduty(stack.api.url, cred)
    token = cred["agent_token"]
    nats_server.stop()
    r = post_batch(stack.ingest.url, token, "agent-2", 1, _batch(1))
    assert r.status_code == 503 and "event bus unavailable" in r.json()["message"]
    assert _metric(stack.ingest.url, 'rtguard_ingest_rejected_total{reason="bus_unavailable"}') == 1
    nats_server.start()  # same port and store: the processes reconnect

    def retried() -> httpx.Response | None:
        resp = post_batch(stack.ingest.url, token, "agent-2", 1, _batch(1))  # the agent's retry
        return resp if resp.status_code == 200 else None

    resp = wait_for(retried, 30, "ingest to publish again")
    assert resp.json()["duplicate"] is True  # stored the first time, published now
    wait_for(lambda: _counts(gd, cred["detector_id"]) == _expected(range(1, 2)), 30, "the finding")
