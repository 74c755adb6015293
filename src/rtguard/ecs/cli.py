"""``rtguard ecs …``: the ECS subcommands (``inject-sidecar``, ``preflight``, ``controller``):
argument parsing, reading and writing JSON files, printing results and exit codes.

It must not hold injection, check or controller logic (``inject``, ``preflight``, ``controller``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ENV_SERVER = "RTGUARD_SERVER"
ENV_TOKEN = "RTGUARD_TOKEN"
ENV_TOKEN_SECRET_ARN = "RTGUARD_TOKEN_SECRET_ARN"


def add_parser(sub: Any) -> None:
    """Add ``ecs`` and its subcommands to the top-level subparsers."""
    e = sub.add_parser("ecs", help="ECS integration: sidecar injection, pre-flight checks, controller")
    esub = e.add_subparsers(dest="ecs_command", required=True)

    i = esub.add_parser("inject-sidecar", help="print the task definition with the agent sidecar")
    i.add_argument(
        "taskdef", type=Path, help="task definition JSON (bare or describe-task-definition output)"
    )
    i.add_argument("--server", default=os.environ.get(ENV_SERVER, ""), help=f"server URL (or {ENV_SERVER})")
    i.add_argument(
        "--token-secret-arn",
        default=os.environ.get(ENV_TOKEN_SECRET_ARN, ""),
        help=f"Secrets Manager ARN of the agent token (or {ENV_TOKEN_SECRET_ARN}); else {ENV_TOKEN} is used",
    )
    i.add_argument("--image", default="", help="agent image (default: the rtguard release image)")
    i.add_argument("--memory-policy", choices=("rtguard", "guardduty"), default="rtguard")
    i.add_argument(
        "--memory", type=int, default=None, help="sidecar memory limit in MiB (overrides the policy)"
    )
    i.add_argument("-o", "--output", type=Path, default=None, help="write here instead of stdout")

    p = esub.add_parser("preflight", help="check a task definition against the agent's requirements")
    p.add_argument("taskdef", type=Path)
    p.add_argument("--platform-version", default="LATEST", help="the platform version the task runs with")
    p.add_argument("--json", action="store_true", help="print the results as JSON")

    c = esub.add_parser("controller", help="watch ECS clusters and keep services in scope instrumented")
    c.add_argument("--endpoint-url", default=os.environ.get("RTGUARD_ECS_ENDPOINT_URL") or None)
    c.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    c.add_argument(
        "--server", default=os.environ.get(ENV_SERVER, ""), help="rtguard server the agents report to"
    )
    c.add_argument("--token-secret-arn", default=os.environ.get(ENV_TOKEN_SECRET_ARN, ""))
    c.add_argument("--image", default="")
    c.add_argument("--auto", choices=("server", "enabled", "disabled"), default="server",
                   help="ECS_FARGATE_AGENT_MANAGEMENT (inject into untagged clusters): follow the "
                        "server's detector (default), or force it on or off")  # fmt: skip
    c.add_argument("--interval", type=float, default=30.0, help="seconds between passes")
    c.add_argument("--once", action="store_true", help="one pass, print the report, exit")


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        print(f"rtguard ecs: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return None
    except ValueError as exc:
        print(f"rtguard ecs: {path} is not JSON: {exc}", file=sys.stderr)
        return None
    if not isinstance(data, dict):
        print(f"rtguard ecs: {path} must hold a JSON object (a task definition)", file=sys.stderr)
        return None
    return data


def _inject(args: argparse.Namespace) -> int:
    from rtguard.ecs.inject import DEFAULT_IMAGE, InjectError, MemoryPolicy, SidecarSettings, inject_sidecar

    doc = _load(args.taskdef)
    if doc is None:
        return 2
    secret = args.token_secret_arn
    settings = SidecarSettings(
        server=args.server,
        token="" if secret else os.environ.get(ENV_TOKEN, ""),
        token_secret_arn=secret,
        image=args.image or DEFAULT_IMAGE,
        memory_policy=MemoryPolicy(args.memory_policy),
        memory_mib=args.memory,
    )
    try:
        result = inject_sidecar(doc, settings)
    except InjectError as exc:
        print(f"rtguard ecs inject-sidecar: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result.task_definition, indent=4) + "\n"
    if args.output is not None:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    for note in result.notes:
        print(f"rtguard ecs inject-sidecar: {note}", file=sys.stderr)
    return 0


def _preflight(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rtguard.ecs.preflight import format_results, preflight

    doc = _load(args.taskdef)
    if doc is None:
        return 2
    results = preflight(doc, platform_version=args.platform_version)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(format_results(results))
    return 0 if all(r.ok for r in results) else 1


def _controller(args: argparse.Namespace) -> int:
    from rtguard.ecs.controller import run_controller_cli

    return run_controller_cli(args)


def run(args: argparse.Namespace) -> int:
    """Run the ``ecs`` subcommand named in ``args``."""
    handlers = {"inject-sidecar": _inject, "preflight": _preflight, "controller": _controller}
    return handlers[args.ecs_command](args)
