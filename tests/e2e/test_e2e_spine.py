"""End to end: real server and agent processes, the real eBPF sensor, a real runc container
named like an ECS task, findings read back with boto3.

Privileged: on CI a missing capability fails the test (``rtguard.testing.privilege``).
"""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtguard.model.codec import decode_event
from rtguard.model.events import EventKind
from rtguard.store.sqlite import SqlStore
from rtguard.testing.containers import RuncContainer, new_container_id
from rtguard.testing.e2e_stack import E2EStack, e2e_stack
from rtguard.testing.ecs_fake import FakeEcsContainer, FakeEcsTask
from rtguard.testing.privilege import require_root

pytestmark = pytest.mark.e2e
MINER = "Impact:Runtime/CryptoMinerExecuted"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[E2EStack]:
    require_root()
    with e2e_stack(tmp_path) as s:
        yield s


def _miner_findings(
    gd: Any, detector: str, want_count: int, cid: str, timeout: float = 20
) -> list[dict[str, Any]]:
    """Miner findings of container ``cid`` (the agent sees every container on the machine)."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        ids = gd.list_findings(DetectorId=detector, FindingCriteria={"Criterion": {"type": {"Eq": [MINER]}}})[
            "FindingIds"
        ]
        found = gd.get_findings(DetectorId=detector, FindingIds=ids)["Findings"] if ids else []
        found = [f for f in found if cid in json.dumps(f["Resource"])]
        if found and sum(f["Service"]["Count"] for f in found) >= want_count:
            return found
        time.sleep(0.2)
    return found


def test_crypto_miner_in_ecs_task_becomes_one_aggregated_finding(stack: E2EStack) -> None:
    cid = new_container_id()
    task = stack.ecs.add_task(
        FakeEcsTask(
            cluster="prod",
            family="web",
            revision="3",
            containers=[FakeEcsContainer(docker_id=cid, name="app", image="public.ecr.aws/acme/web:2.1")],
        )
    )
    miner = "cp /bin/true /tmp/xmrig && /tmp/xmrig -o stratum+tcp://pool.invalid:3333 --threads 2; echo ran"
    true_sha = hashlib.sha256(Path("/bin/true").read_bytes()).hexdigest()
    det = stack.cred["detector_id"]
    with RuncContainer(task_id=task.task_id, container_id=cid) as box:
        out = box.exec(["sh", "-c", miner], timeout=30)
        assert out.returncode == 0, out.stderr
        found = _miner_findings(stack.gd, det, 1, cid)
        assert len(found) == 1, found
        f = found[0]
        assert f["Severity"] == 8.0
        assert f["AccountId"] == stack.cred["account_id"]
        proc = f["Service"]["RuntimeDetails"]["Process"]
        assert proc["Name"] == "xmrig"
        assert proc["ExecutablePath"] == "/tmp/xmrig"
        assert proc["ExecutableSha256"] == true_sha
        assert proc["NamespacePid"] > 0 and proc["Pid"] != proc["NamespacePid"]
        assert proc["Lineage"][0]["Name"] in ("sh", "dash")
        assert proc["Lineage"][0]["Uuid"] == proc["ParentUuid"]
        ecs = f["Resource"]["EcsClusterDetails"]
        assert f["Resource"]["ResourceType"] == "ECSCluster"
        assert ecs["Name"] == "prod"
        assert ecs["TaskDetails"]["Arn"] == task.task_arn
        assert ecs["TaskDetails"]["DefinitionArn"].endswith(":task-definition/web:3")
        container = ecs["TaskDetails"]["Containers"][0]
        assert container["Id"] == cid and container["Name"] == "app"
        assert container["Image"] == "public.ecr.aws/acme/web:2.1"

        box.exec(["sh", "-c", "/tmp/xmrig -o stratum+tcp://pool.invalid:3333; echo again"], timeout=30)
        again = _miner_findings(stack.gd, det, 2, cid)
    assert [g["Id"] for g in again] == [f["Id"]]
    assert again[0]["Service"]["Count"] == 2
    assert again[0]["Service"]["EventLastSeen"] >= f["Service"]["EventLastSeen"]
    assert again[0]["Service"]["EventFirstSeen"] == f["Service"]["EventFirstSeen"]


def _storm_events(db: Path, cid: str) -> list[str]:
    store = SqlStore(f"sqlite:///{db}")
    try:
        ids: list[str] = []
        cursor = 0
        while rows := store.events_after(cursor, 5000):
            for row in rows:
                ev = decode_event(json.loads(row[2]))
                if (
                    ev.kind is EventKind.PROCESS_EXEC
                    and ev.container is not None
                    and ev.container.id == cid
                    and ev.process.argv[:1] == ("/bin/true",)
                ):
                    ids.append(ev.process.exec_id)
                cursor = row[0]
        return ids
    finally:
        store.close()


def test_server_restart_during_5000_events_loses_and_duplicates_nothing(stack: E2EStack) -> None:
    cid = new_container_id()
    storm = "i=0; while [ $i -lt 5000 ]; do /bin/true storm; i=$((i+1)); done"
    with RuncContainer(container_id=cid) as box:
        pid = box.spawn(["sh", "-c", storm])
        time.sleep(0.5)
        stack.server.stop(signal.SIGKILL)
        time.sleep(2.0)
        stack.server.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                Path(f"/proc/{pid}").stat()
            except FileNotFoundError:
                break
            time.sleep(0.2)
        db = stack.server.data_dir / "rtguard.db"
        ids: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ids = _storm_events(db, cid)
            if len(ids) >= 5000:
                break
            time.sleep(0.5)
    assert len(ids) == 5000
    assert len(set(ids)) == 5000
    spool = stack.agent.spool_dir
    deadline = time.monotonic() + 30
    while list(spool.glob("*.batch")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(spool.glob("*.batch")), "the spool drains once the server is back"
    assert (stack.agent.log.read_text().count("server unreachable")) >= 1, "the agent did spool"
