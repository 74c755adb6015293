"""``rtguard …``: the command line. Parses flags and environment into frozen configs and calls
the layer that does the work; it must not contain server, agent or detection logic itself.

Precedence: defaults < environment (``RTGUARD_*``) < flags.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rtguard import __version__, logs

ENV_SERVER = "RTGUARD_SERVER"
ENV_TOKEN = "RTGUARD_TOKEN"


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {value!r}")
    return number


def _bus_url(value: str) -> str:
    if value == "memory" or all(
        part.startswith(("nats://", "tls://")) and len(part) > len("nats://") for part in value.split(",")
    ):
        return value
    raise argparse.ArgumentTypeError(f"expected memory or nats://HOST:PORT, got {value!r}")


def _destination(value: str) -> tuple[str, str]:
    kind, sep, target = value.partition("=")
    if not sep or not kind or not target:
        raise argparse.ArgumentTypeError(
            f"expected TYPE=TARGET (e.g. WEBHOOK=https://host/path), got {value!r}"
        )
    return kind.upper(), target


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtguard", description="Runtime threat detection for containers.")
    p.add_argument("--version", action="version", version=f"rtguard {__version__}")
    p.add_argument("--log-level", default=os.environ.get("RTGUARD_LOG_LEVEL", "warning"))
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("server", help="run the detection service (ingest, detection, API)")
    s.add_argument("--listen", type=_listen, default=("127.0.0.1", 8080), metavar="HOST:PORT")
    s.add_argument("--data-dir", type=Path, default=Path(os.environ.get("RTGUARD_DATA_DIR", "rtguard-data")))
    s.add_argument(
        "--store",
        default=os.environ.get("RTGUARD_STORE", ""),
        help="store URL (default: SQLite in the data dir)",
    )
    s.add_argument(
        "--bus",
        type=_bus_url,
        default=os.environ.get("RTGUARD_BUS", "memory"),
        metavar="memory|nats://HOST:PORT",
        help="event bus: memory (one process), or NATS JetStream for the scale-out roles (env RTGUARD_BUS)",
    )
    s.add_argument(
        "--nats-stream", default="RTGUARD_EVENTS", help="JetStream stream name (default RTGUARD_EVENTS)"
    )
    s.add_argument(
        "--nats-partitions",
        type=_positive_int,
        default=32,
        help="subjects events are spread over by container/host; the same in every process (default 32)",
    )
    s.add_argument(
        "--nats-ack-wait",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="seconds before a message detection took but did not ack is delivered again (default 30)",
    )
    s.add_argument(
        "--nats-max-mb",
        type=_positive_int,
        default=1024,
        help="stream size limit; when full, ingest answers 503 and agents retry (default 1024)",
    )
    s.add_argument(
        "--role",
        choices=("all", "ingest", "detect", "api"),
        default=os.environ.get("RTGUARD_ROLE", "all"),
        help="what this process runs: all (default), or one scale-out role: ingest (agent endpoints), "
        "detect (detection worker), api (GuardDuty API); see docs/scale-out.md",
    )
    s.add_argument("--region", default=os.environ.get("RTGUARD_REGION", "us-east-1"))
    s.add_argument("--rules", type=Path, action="append", default=[], help="extra rule file or directory")
    s.add_argument(
        "--agent-timeout",
        type=float,
        default=float(os.environ.get("RTGUARD_AGENT_TIMEOUT", "60")),
        help="seconds without a heartbeat before coverage reports 'Agent not reporting' (default 60)",
    )
    s.add_argument(
        "--retention-days",
        type=_positive_int,
        default=int(os.environ.get("RTGUARD_RETENTION_DAYS", "90")),
        help="delete findings not updated for this many days (default 90)",
    )
    s.add_argument(
        "--publish",
        type=_destination,
        action="append",
        default=[],
        metavar="TYPE=TARGET",
        help="publish every finding: WEBHOOK=https://..., WEBHOOK_OCSF=..., FILE=/dir, FILE_OCSF=/dir, "
        "SYSLOG=udp://host:514 or unix:///dev/log, SYSLOG_OCSF=... (repeatable)",
    )
    s.add_argument(
        "--intel-dir",
        type=Path,
        action="append",
        default=[],
        help="local threat-intel feed directory written by 'rtguard intel update', read at start "
        "(repeatable; default RTGUARD_INTEL_DIR)",
    )

    a = sub.add_parser("agent", help="run the security agent on this host or in this task")
    a.add_argument("--server", default=os.environ.get(ENV_SERVER, ""))
    a.add_argument("--token", default=os.environ.get(ENV_TOKEN, ""))
    a.add_argument(
        "--sensor",
        choices=("auto", "ebpf", "sidecar", "procfs"),
        default=os.environ.get("RTGUARD_SENSOR", "auto"),
    )
    a.add_argument(
        "--spool-dir", type=Path, default=Path(os.environ.get("RTGUARD_SPOOL_DIR", "/var/lib/rtguard/spool"))
    )
    a.add_argument(
        "--ecs-agent-uri", default=os.environ.get("RTGUARD_ECS_AGENT_URI", "http://localhost:51678")
    )
    a.add_argument("--heartbeat-interval", type=float, default=5.0)
    a.add_argument("--export-exits", action="store_true", help="also send process exits to the server")
    a.add_argument(
        "--file-prefixes",
        default=os.environ.get("RTGUARD_FILE_PREFIXES", ""),
        metavar="P1,P2,...",
        help="report file changes only under these path prefixes (replaces the defaults; "
        "env RTGUARD_FILE_PREFIXES)",
    )
    a.add_argument(
        "--add-file-prefix",
        action="append",
        default=[],
        metavar="PREFIX",
        help="also report file changes under PREFIX (e.g. /opt/ or /app/); repeatable",
    )

    d = sub.add_parser("demo", help="server + agent + harmless attacks in real containers")
    d.add_argument("--once", action="store_true", help="exit when the findings are printed")
    d.add_argument("--data-dir", type=Path, default=None)
    d.add_argument("--listen", type=_listen, default=("127.0.0.1", 8080), metavar="HOST:PORT")

    r = sub.add_parser("rules", help="rule files")
    rsub = r.add_subparsers(dest="rules_command", required=True)
    v = rsub.add_parser("validate", help="check rule files; print path:line:col: CODE message")
    v.add_argument("paths", type=Path, nargs="+")
    t = rsub.add_parser("test", help="run rule scenarios (the shipped ones, and yours)")
    t.add_argument("scenarios", type=Path, nargs="*", help="scenario files or directories (default: shipped)")
    t.add_argument("--rules", type=Path, action="append", default=[], help="extra rule file or directory")

    from rtguard.ecs.cli import add_parser as _add_ecs_parser

    _add_ecs_parser(sub)
    from rtguard.orgs.cli import add_parser as _add_accounts_parser

    _add_accounts_parser(sub)
    from rtguard.usage.cli import add_parser as _add_usage_parser

    _add_usage_parser(sub)
    # `intel` parses its own arguments when it runs: its module pulls in feed parsing and an
    # HTTP client, which the agent (sharing this entry point) must not load.
    i = sub.add_parser("intel", help="threat-intelligence feeds (see docs/threat-intel.md)", add_help=False)
    i.add_argument("intel_args", nargs=argparse.REMAINDER)
    return p


def _run_server(args: argparse.Namespace) -> int:
    from rtguard.bus.config import NatsConfig
    from rtguard.server import ServerConfig, serve

    host, port = args.listen
    config = ServerConfig(
        listen_host=host,
        listen_port=port,
        data_dir=args.data_dir,
        store_url=args.store,
        region=args.region,
        rule_paths=tuple(args.rules),
        log_level=args.log_level,
        agent_timeout=args.agent_timeout,
        retention_days=args.retention_days,
        publish=tuple(args.publish),
        intel_dirs=tuple(args.intel_dir)
        or tuple(Path(d) for d in [os.environ.get("RTGUARD_INTEL_DIR", "")] if d),
        role=args.role,
        bus_url=args.bus,
        nats=NatsConfig(
            stream=args.nats_stream,
            partitions=args.nats_partitions,
            ack_wait=args.nats_ack_wait,
            max_bytes=args.nats_max_mb * 1024 * 1024,
        ),
    )
    if args.role != "all" and (args.bus == "memory" or not args.store):
        print(
            f"rtguard server: --role {args.role} shares its work with other processes: give them one "
            "--store (postgresql+psycopg://...) and one --bus (nats://...); see docs/scale-out.md",
            file=sys.stderr,
        )
        return 2

    def ready(server: object) -> None:
        where = (
            f"; credentials in {config.data_dir / 'credentials.json'}" if args.role in ("all", "api") else ""
        )
        name = "rtguard server" if args.role == "all" else f"rtguard server ({args.role})"
        print(f"{name} listening on {config.endpoint_url}{where}", flush=True)
        print(
            f"web console: {config.endpoint_url}/console/ (sign in with aws_access_key_id and "
            "aws_secret_access_key from credentials.json)",
            flush=True,
        )

    serve(config, ready=ready)
    return 0


def _run_agent(args: argparse.Namespace) -> int:
    from rtguard.agent.app import AgentConfig, run_agent

    if not args.server or not args.token:
        print(
            "rtguard agent: the server URL and the agent token are required: pass --server URL "
            f"--token TOKEN or set {ENV_SERVER} and {ENV_TOKEN} (the token is agent_token in the "
            "server's credentials.json)",
            file=sys.stderr,
        )
        return 2
    config = AgentConfig(
        server=args.server,
        token=args.token,
        sensor=args.sensor,
        spool_dir=args.spool_dir,
        ecs_agent_uri=args.ecs_agent_uri,
        ecs_metadata_uri=os.environ.get("ECS_CONTAINER_METADATA_URI_V4", ""),
        heartbeat_interval=args.heartbeat_interval,
        export_exits=args.export_exits,
        file_prefixes=_file_prefixes(args.file_prefixes, args.add_file_prefix),
    )
    return run_agent(config)


def _file_prefixes(replace: str, add: list[str]) -> tuple[str, ...] | None:
    """The agent's file prefixes: the defaults, or ``replace``, plus ``add`` (None: defaults)."""
    if not replace and not add:
        return None
    from rtguard.agent.sensors.bpf.sensor import DEFAULT_FILE_PREFIXES

    base = [p for p in replace.split(",") if p] if replace else list(DEFAULT_FILE_PREFIXES)
    return tuple(dict.fromkeys([*base, *add]))


def _run_rules(args: argparse.Namespace) -> int:
    from rtguard.detect.loader import format_load_result, validate_rule_files

    if args.rules_command == "test":
        return _run_rules_test(args)

    result = validate_rule_files(list(args.paths))
    out = format_load_result(result)
    if out:
        print(out)
    if result.errors:
        return 1
    print(f"{len(args.paths)} file(s) valid")
    return 0


def _run_rules_test(args: argparse.Namespace) -> int:
    from rtguard.detect.engine import build_engine
    from rtguard.detect.loader import format_load_result
    from rtguard.detect.scenarios import SHIPPED_SCENARIOS, format_results, run_scenario_file, scenario_files

    engine, loaded = build_engine(list(args.rules))
    if loaded.errors:
        print(format_load_result(loaded, warnings=False))
        return 1
    files = scenario_files(args.scenarios or [SHIPPED_SCENARIOS])
    results = [r for f in files for r in run_scenario_file(f, engine)]
    print(format_results(results))
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed or not results else 0


def _run_demo(args: argparse.Namespace) -> int:
    from rtguard.demo import DemoConfig, run_demo

    host, port = args.listen
    return run_demo(DemoConfig(once=args.once, data_dir=args.data_dir, listen_host=host, listen_port=port))


def _run_ecs(args: argparse.Namespace) -> int:
    from rtguard.ecs.cli import run

    return run(args)


def _run_accounts(args: argparse.Namespace) -> int:
    from rtguard.orgs.cli import run

    return run(args)


def _run_usage(args: argparse.Namespace) -> int:
    from rtguard.usage.cli import run

    return run(args)


def _run_intel(args: argparse.Namespace) -> int:
    from rtguard.intel.cli import add_parser, run

    p = argparse.ArgumentParser(prog="rtguard")
    add_parser(p.add_subparsers(dest="command", required=True))
    return run(p.parse_args(["intel", *args.intel_args]))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rtguard`` command."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "intel":  # intel parses its own arguments (see _parser)
        args.intel_args = [*args.intel_args, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logs.setup(args.log_level)
    handlers = {
        "server": _run_server,
        "agent": _run_agent,
        "demo": _run_demo,
        "rules": _run_rules,
        "ecs": _run_ecs,
        "accounts": _run_accounts,
        "intel": _run_intel,
        "usage": _run_usage,
    }
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
