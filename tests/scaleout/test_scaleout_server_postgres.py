"""``rtguard server --store postgresql+psycopg://…``: the one-process server on a real PostgreSQL
server: bootstrap, an agent batch in, the finding out through boto3, and a restart that keeps
everything (credentials, findings, the detection cursor); and the same one process with its
events going through NATS JetStream (``--bus nats://…``)."""

from __future__ import annotations

from pathlib import Path

import httpx

from rtguard.testing.agentbatch import (
    MINER,
    code_env,
    guardduty,
    miner_event,
    miner_findings,
    post_batch,
    wait_for,
)
from rtguard.testing.nats import NatsServer
from rtguard.testing.postgres import PostgresServer
from rtguard.testing.stack import ServerProcess


def test_server_on_postgresql_detects_and_survives_a_restart(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    db = postgres_server.create_database()
    url = postgres_server.url(db)
    server = ServerProcess(tmp_path, extra_args=("--store", url), env=code_env())
    try:
        server.start()
        cred = server.credentials()
        gd = guardduty(server.url, cred)
        assert gd.list_detectors()["DetectorIds"] == [cred["detector_id"]]
        t0 = 1_700_000_000_000_000_000
        r = post_batch(server.url, cred["agent_token"], "agent-pg", 1, [miner_event(t0), miner_event(t0 + 1)])
        assert r.status_code == 200 and r.json()["accepted"] == 2
        found = wait_for(lambda: miner_findings(gd, cred["detector_id"]), 10, "the miner finding")
        assert [f["Type"] for f in found] == [MINER]
        assert found[0]["Service"]["Count"] == 2
        server.stop()
        server.start()  # same database: same credentials, the finding and the cursor are kept
        assert server.credentials() == cred
        r = post_batch(server.url, cred["agent_token"], "agent-pg", 2, [miner_event(t0 + 2)])
        assert r.status_code == 200
        again = wait_for(
            lambda: [f for f in miner_findings(gd, cred["detector_id"]) if f["Service"]["Count"] == 3],
            10,
            "the count to reach 3",
        )
        assert len(again) == 1 and again[0]["Id"] == found[0]["Id"]
    finally:
        server.stop()


def test_one_process_over_nats_and_postgresql(
    postgres_server: PostgresServer, nats_server: NatsServer, tmp_path: Path
) -> None:
    url = postgres_server.url(postgres_server.create_database())
    server = ServerProcess(tmp_path, extra_args=("--store", url, "--bus", nats_server.url), env=code_env())
    try:
        server.start()
        cred = server.credentials()
        gd = guardduty(server.url, cred)
        t0 = 1_700_000_000_000_000_000
        r = post_batch(server.url, cred["agent_token"], "agent-1", 1, [miner_event(t0), miner_event(t0 + 1)])
        assert r.status_code == 200
        found = wait_for(lambda: miner_findings(gd, cred["detector_id"]), 10, "the miner finding")
        assert [f["Service"]["Count"] for f in found] == [2]
        metrics = httpx.get(server.url + "/metrics", timeout=5).text
        assert 'rtguard_bus_messages_total{outcome="acked"} 1' in metrics  # it went through JetStream
    finally:
        server.stop()
