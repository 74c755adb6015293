"""End to end in a Fargate-like task: a workload container and an ``rtguard agent --sensor sidecar``
container sharing its pid and network namespaces, the sidecar holding only CAP_SYS_PTRACE.

The server runs on the host (loopback) and is reached through a relay on the host end of a
veth pair the test created; the fake ECS task metadata endpoint likewise. Shows: every exec of
a 5,000-exec storm started after attach is exported with argv, exe, sha256, cwd and ids; the
spine's three finding types come out of the task (boto3); the workload keeps running, nothing
left stopped, when the agent is SIGKILLed. Privileged (root, runc, ip).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from rtguard.model.codec import decode_event
from rtguard.model.events import Event, EventKind
from rtguard.store.sqlite import SqlStore
from rtguard.testing.containers import DEFAULT_ENV, RuncContainer, new_container_id
from rtguard.testing.ecs_fake import FakeEcsContainer, FakeEcsEndpoints, FakeEcsTask
from rtguard.testing.netns import NetNamespace
from rtguard.testing.privilege import require_root
from rtguard.testing.relay import TcpRelay
from rtguard.testing.stack import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]
MINER = "Impact:Runtime/CryptoMinerExecuted"
TOOL = "Execution:Runtime/SuspiciousTool"
DISCOVERY = "Discovery:Runtime/SuspiciousCommand"
STORM = 5000
# The storm starts only once its shell is traced: "every exec started after attach".
# The workload's "app": runs whatever arrives on a FIFO, like a service with a command injection.
APP = ["sh", "-c", 'mkfifo /tmp/cmd; while :; do c="$(cat /tmp/cmd)"; sh -c "$c"; done']
WAIT_TRACED = 'while ! grep -q "TracerPid:[[:space:]]*[1-9]" /proc/$$/status; do sleep 0.01; done'


@dataclass
class Task:
    server: ServerProcess
    workload: RuncContainer
    sidecar: RuncContainer
    workload_id: str
    ecs_task: FakeEcsTask
    cred: dict[str, str]
    gd: Any


def _wait_for(path_text: Any, needle: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in path_text():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def task(tmp_path: Path) -> Iterator[Task]:
    require_root()
    workload_id, sidecar_id = new_container_id(), new_container_id()
    ecs_task = FakeEcsTask(
        cluster="fargate",
        launch_type="FARGATE",
        family="shop",
        revision="7",
        containers=[
            FakeEcsContainer(docker_id=workload_id, name="app", image="public.ecr.aws/acme/shop:1.0"),
            FakeEcsContainer(
                docker_id=sidecar_id, name="aws-guardduty-agent-AbC123", image="rtguard/agent:dev"
            ),
        ],
    )
    task_id = ecs_task.task_id
    with contextlib.ExitStack() as stack:
        ecs = stack.enter_context(FakeEcsEndpoints(cluster="fargate"))
        ecs.add_task(ecs_task)
        server = ServerProcess(tmp_path / "server").start()
        stack.callback(server.stop)
        cred = server.credentials()
        ns = stack.enter_context(NetNamespace())
        api_relay = TcpRelay(ns.peer_ip, server.port)
        stack.callback(api_relay.close)
        ecs_port = int(ecs.url.rsplit(":", 1)[1])
        ecs_relay = TcpRelay(ns.peer_ip, ecs_port)
        stack.callback(ecs_relay.close)
        metadata = ecs.metadata_uri(ecs_task, "aws-guardduty-agent-AbC123").replace(
            f"127.0.0.1:{ecs_port}", f"{ns.peer_ip}:{ecs_relay.port}"
        )
        workload = stack.enter_context(
            RuncContainer(args=APP, task_id=task_id, container_id=workload_id, netns_path=ns.path)
        )
        agent_cmd = [
            sys.executable, "-m", "rtguard.cli", "agent",
            "--server", f"http://{ns.peer_ip}:{api_relay.port}", "--token", cred["agent_token"],
            "--sensor", "sidecar", "--spool-dir", "/var/lib/rtguard-spool", "--heartbeat-interval", "1",
        ]  # fmt: skip
        sidecar = stack.enter_context(
            RuncContainer(
                args=agent_cmd,
                env=[*DEFAULT_ENV, f"ECS_CONTAINER_METADATA_URI_V4={metadata}"],
                task_id=task_id,
                container_id=sidecar_id,
                netns_path=ns.path,
                pidns_path=workload.pidns_path,
                capabilities=["CAP_SYS_PTRACE"],
            )
        )
        if not _wait_for(lambda: sidecar.init_output()[0], "rtguard agent running", 60):
            out, err = sidecar.init_output()
            pytest.fail(f"sidecar agent did not start:\n{out}\n{err}")
        gd = boto3.client(
            "guardduty",
            endpoint_url=server.url,
            region_name=cred["region"],
            aws_access_key_id=cred["aws_access_key_id"],
            aws_secret_access_key=cred["aws_secret_access_key"],
        )
        yield Task(
            server=server,
            workload=workload,
            sidecar=sidecar,
            workload_id=workload_id,
            ecs_task=ecs_task,
            cred=cred,
            gd=gd,
        )


def _events(db: Path, cid: str) -> list[Event]:
    store = SqlStore(f"sqlite:///{db}")
    try:
        out: list[Event] = []
        cursor = 0
        while rows := store.events_after(cursor, 5000):
            for row in rows:
                ev = decode_event(json.loads(row[2]))
                if ev.kind is EventKind.PROCESS_EXEC and ev.container is not None and ev.container.id == cid:
                    out.append(ev)
                cursor = row[0]
        return out
    finally:
        store.close()


def _findings(gd: Any, detector: str, ftype: str, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = gd.list_findings(DetectorId=detector, FindingCriteria={"Criterion": {"type": {"Eq": [ftype]}}})[
            "FindingIds"
        ]
        if ids:
            found: list[dict[str, Any]] = gd.get_findings(DetectorId=detector, FindingIds=ids)["Findings"]
            return found
        time.sleep(0.2)
    return []


def _state(pid: int) -> tuple[str, int]:
    text = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return fields["State"].split()[0], int(fields["TracerPid"])


def test_sidecar_sees_every_exec_of_a_storm_finds_the_spine_types_and_leaves_the_workload_running(
    task: Task,
) -> None:
    true_sha = hashlib.sha256(Path("/bin/true").read_bytes()).hexdigest()
    storm = f"{WAIT_TRACED}; i=0; while [ $i -lt {STORM} ]; do /bin/true storm $i; i=$((i+1)); done"
    out = task.workload.exec(["sh", "-c", storm], timeout=240, cwd="/tmp")
    assert out.returncode == 0, out.stderr

    db = task.server.data_dir / "rtguard.db"
    seen: dict[int, Event] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(seen) < STORM:
        for ev in _events(db, task.workload_id):
            if ev.process.argv[:2] == ("/bin/true", "storm"):
                seen[int(ev.process.argv[2])] = ev
        time.sleep(0.5)
    assert sorted(seen) == list(range(STORM)), f"missing {STORM - len(seen)} execs"
    for ev in seen.values():
        p = ev.process
        assert p.exe_path == "/usr/bin/true" and p.exe_sha256 == true_sha
        assert p.cwd == "/tmp" and (p.uid, p.euid, p.gid, p.egid) == (0, 0, 0, 0)
        assert p.ns_pid > 0 and p.start_time > 0 and p.parent_exec_id
    assert len({ev.process.exec_id for ev in seen.values()}) == STORM
    sample = seen[0]
    assert sample.container is not None and sample.container.ecs is not None
    assert sample.container.ecs.task_arn == task.ecs_task.task_arn

    attacks = (
        "cp /bin/true /tmp/xmrig && /tmp/xmrig -o stratum+tcp://pool.invalid:3333",
        "cp /bin/true /tmp/masscan && /tmp/masscan -p1-65535 10.0.0.0/8",
        "find / -xdev -maxdepth 1 -perm -4000 >/dev/null 2>&1",
    )
    fifo = task.workload.rootfs / "tmp" / "cmd"
    for n, attack in enumerate(attacks):
        fifo.write_text(f"{attack}; echo ran > /tmp/attack{n}")  # blocks until the app reads it
        ran = task.workload.rootfs / "tmp" / f"attack{n}"
        assert _wait_for(lambda ran=ran: ran.read_text() if ran.exists() else "", "ran", 30), attack
    det = task.cred["detector_id"]
    miner = _findings(task.gd, det, MINER)
    assert len(miner) == 1, miner
    proc = miner[0]["Service"]["RuntimeDetails"]["Process"]
    assert proc["ExecutablePath"] == "/tmp/xmrig" and proc["ExecutableSha256"] == true_sha
    ecs = miner[0]["Resource"]["EcsClusterDetails"]
    assert ecs["TaskDetails"]["Arn"] == task.ecs_task.task_arn
    assert ecs["TaskDetails"]["Containers"][0]["Name"] == "app"
    assert _findings(task.gd, det, TOOL), "SuspiciousTool from inside the task"
    assert _findings(task.gd, det, DISCOVERY), "SuspiciousCommand from inside the task"

    # A long-lived workload process that keeps forking while the agent dies.
    ticker = task.workload.spawn(
        ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.02; done"]
    )
    deadline = time.monotonic() + 10
    while _state(ticker)[1] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(ticker)[1] != 0, "the ticker is traced before the agent is killed"
    os.kill(task.sidecar.pid, signal.SIGKILL)
    assert task.sidecar.wait(10)
    time.sleep(0.5)
    tick_file = task.workload.rootfs / "tmp" / "tick"
    before = int(tick_file.read_text())
    time.sleep(0.5)
    assert int(tick_file.read_text()) > before, "the workload keeps running after SIGKILL of the agent"
    procs = [int(p) for p in (task.workload.cgroup_dirs()[0] / "cgroup.procs").read_text().split()]
    for pid in procs:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # exited since the listing
            state, tracer = _state(pid)
            assert state not in ("t", "T") and tracer == 0, (pid, state, tracer)
    done = task.workload.exec(["sh", "-c", "echo still-alive"], timeout=30)
    assert done.stdout.strip() == "still-alive"
