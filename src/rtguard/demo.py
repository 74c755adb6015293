"""``rtguard demo``: the whole product on one machine in one command.

Starts a real ``rtguard server`` and ``rtguard agent --sensor ebpf`` as processes, a local
stand-in for the ECS agent's introspection endpoint (AWS's ECS control plane cannot exist
here), and a runc container whose cgroup is named like an ECS task's. It then runs harmless
simulations of the spine's finding types inside the container (copies of ``/bin/true`` named
like a miner and a scanner, and a recon command line whose network request cannot leave the
container's empty network namespace), waits for the findings through the GuardDuty API with
boto3, prints them as a table and shows how to query them and how to sign in to the web console.
It uses ``rtguard.testing`` (containers, fake ECS, process stack) and must not be imported by the
server or the agent.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rtguard.testing.containers import RuncContainer, new_container_id
from rtguard.testing.ecs_fake import FakeEcsContainer, FakeEcsEndpoints, FakeEcsTask
from rtguard.testing.stack import AgentProcess, ServerProcess

SIMULATIONS: Final[tuple[tuple[str, str, str], ...]] = (
    (
        "Impact:Runtime/CryptoMinerExecuted",
        "a binary named xmrig pointed at a stratum pool",
        "cp /bin/true /tmp/xmrig && /tmp/xmrig -o stratum+tcp://pool.invalid:3333 --donate-level 1; true",
    ),
    (
        "Execution:Runtime/SuspiciousTool",
        "a binary named nmap scanning a network",
        "cp /bin/true /tmp/nmap && /tmp/nmap -sS -p 22 192.0.2.0/24; true",
    ),
    (
        "Discovery:Runtime/SuspiciousCommand",
        "a request for the instance's IAM credentials",
        "curl -s -m 1 http://169.254.169.254/latest/meta-data/iam/security-credentials/; true",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoConfig:
    """What ``rtguard demo`` was asked to do."""

    once: bool = False
    data_dir: Path | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080


def _boto3_client(cred: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "guardduty",
        endpoint_url=cred["endpoint_url"],
        region_name=cred["region"],
        aws_access_key_id=cred["aws_access_key_id"],
        aws_secret_access_key=cred["aws_secret_access_key"],
    )


def _wait_findings(gd: Any, detector: str, types: list[str], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    findings: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        ids = gd.list_findings(
            DetectorId=detector, FindingCriteria={"Criterion": {"type": {"Eq": types}}}, MaxResults=50
        )["FindingIds"]
        findings = gd.get_findings(DetectorId=detector, FindingIds=ids)["Findings"] if ids else []
        if {f["Type"] for f in findings} >= set(types):
            return findings
        time.sleep(0.3)
    return findings


def _table(findings: list[dict[str, Any]]) -> Table:
    table = Table(title="Findings (GuardDuty shape, read back with boto3)")
    table.add_column("Type", no_wrap=True)
    for col in ("Sev", "Count", "ECS cluster/task", "Executable", "Context"):
        table.add_column(col, overflow="fold")
    for f in sorted(findings, key=lambda f: f["Type"]):
        ecs = f["Resource"].get("EcsClusterDetails", {})
        task = ecs.get("TaskDetails", {})
        proc = f["Service"]["RuntimeDetails"]["Process"]
        ctx = f["Service"]["RuntimeDetails"].get("Context", {})
        # Everything below came from a monitored process: escape it before rich renders it.
        table.add_row(
            escape(f["Type"]),
            str(f["Severity"]),
            str(f["Service"]["Count"]),
            escape(f"{ecs.get('Name', '')}/{task.get('Arn', '').rsplit('/', 1)[-1][:8]}"),
            escape(proc.get("ExecutablePath", "")),
            escape(ctx.get("CommandLineExample", "") or ctx.get("ToolName", "")),
        )
    return table


def _hints(cred: dict[str, str], cred_path: Path, console: Console) -> None:
    env = (
        f"AWS_ACCESS_KEY_ID={cred['aws_access_key_id']} AWS_SECRET_ACCESS_KEY=… "
        f"AWS_DEFAULT_REGION={cred['region']}"
    )
    console.print("\n[bold]Query them yourself[/bold] (keys in the credentials file):")
    console.print(
        f"  aws guardduty list-findings --detector-id {cred['detector_id']} "
        f"--endpoint-url {cred['endpoint_url']}   # with {env}",
        markup=False,
    )
    console.print(
        "  python3 -c 'import boto3,json; c=json.load(open(\"" + str(cred_path) + '")); '
        'gd=boto3.client("guardduty", endpoint_url=c["endpoint_url"], region_name=c["region"], '
        'aws_access_key_id=c["aws_access_key_id"], aws_secret_access_key=c["aws_secret_access_key"]); '
        'print(gd.list_findings(DetectorId=c["detector_id"]))\'',
        markup=False,
    )


def console_hint_lines(cred: dict[str, str], cred_path: Path) -> list[str]:
    """How to open the web console and sign in (the secret itself is not printed)."""
    return [
        f"Web console: {cred['endpoint_url']}/console/",
        f"  sign in with access key id {cred['aws_access_key_id']} and the secret access key",
        f"  (aws_secret_access_key in {cred_path}; print it with: "
        f'python3 -c \'import json; print(json.load(open("{cred_path}"))["aws_secret_access_key"])\')',
    ]


def _step(console: Console, text: str) -> Callable[[], None]:
    start = time.monotonic()
    console.print(f"[cyan]…[/cyan] {text}", end="")

    def done() -> None:
        console.print(f"  [green]done[/green] ({time.monotonic() - start:.1f}s)")

    return done


def run_demo(config: DemoConfig) -> int:
    """Run the demo; return the exit code."""
    console = Console(width=None if sys.stdout.isatty() else 150)
    if os.geteuid() != 0:
        console.print("[red]rtguard demo needs root[/red]: it loads eBPF programs and runs runc containers.")
        return 2
    data_dir = config.data_dir or Path(tempfile.mkdtemp(prefix="rtguard-demo-"))
    server = ServerProcess(data_dir, port=config.listen_port)
    agent: AgentProcess | None = None
    try:
        with FakeEcsEndpoints(cluster="demo-cluster") as ecs:
            done = _step(console, f"starting rtguard server on {server.url}")
            server.start()
            done()
            cred = server.credentials()
            done = _step(console, "starting rtguard agent (eBPF sensor)")
            agent = AgentProcess(server.url, cred["agent_token"], data_dir / "agent", ecs_agent_uri=ecs.url)
            agent.start()
            done()
            cid = new_container_id()
            task = ecs.add_task(
                FakeEcsTask(
                    cluster="demo-cluster",
                    family="payments-api",
                    revision="7",
                    containers=[
                        FakeEcsContainer(docker_id=cid, name="api", image="public.ecr.aws/demo/payments:1.4")
                    ],
                )
            )
            done = _step(console, f"starting a runc container in ECS task {task.task_id[:8]}…")
            with RuncContainer(task_id=task.task_id, container_id=cid) as box:
                done()
                for ftype, what, script in SIMULATIONS:
                    console.print(f"  simulating {escape(ftype)}: {what}")
                    box.exec(["sh", "-c", script], timeout=30)
                gd = _boto3_client(cred)
                done = _step(console, "waiting for findings")
                findings = _wait_findings(gd, cred["detector_id"], [s[0] for s in SIMULATIONS], 30)
                done()
            console.print(_table(findings))
            missing = {s[0] for s in SIMULATIONS} - {f["Type"] for f in findings}
            if missing:
                console.print(f"[red]missing findings:[/red] {escape(', '.join(sorted(missing)))}")
            console.print(f"\nAPI endpoint: {server.url}   credentials: {data_dir / 'credentials.json'}")
            _hints(cred, data_dir / "credentials.json", console)
            console.print()
            for line in console_hint_lines(cred, data_dir / "credentials.json"):
                console.print(line, markup=False, highlight=False)
            if config.once:
                console.print(
                    "\n(--once: server and agent stop now; run `rtguard demo` to keep them running.)"
                )
            else:
                console.print("\nServer and agent keep running; press Ctrl-C to stop.")
                while server.alive() and agent.alive():
                    time.sleep(1)
            return 1 if missing else 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        console.print(f"[red]demo failed:[/red] {escape(str(exc))}")
        return 1
    finally:
        if agent is not None:
            agent.stop()
        server.stop()


if __name__ == "__main__":
    sys.exit(run_demo(DemoConfig(once=True)))
