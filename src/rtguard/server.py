"""``rtguard server``: the server, in one process (``--role all``, the embedded default: SQLite and
the memory bus) or as one of the scale-out roles (``ingest``, ``detect``, ``api``) sharing a
PostgreSQL store and a NATS JetStream bus.

Builds the FastAPI app from the parts the role runs (ingest and inventory routers, the GuardDuty
API, ``/metrics`` and ``/healthz`` always), bootstraps the account, detector, access keys and
agent token on first start where the API runs (``credentials.json``, mode 0600; later starts
reuse them), starts the detection worker where detection runs and serves with uvicorn. It wires
layers together and must not contain detection, storage or API logic of its own.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from rtguard import __version__
from rtguard.api.app import mount_api
from rtguard.bus.base import BusError
from rtguard.bus.config import NatsConfig
from rtguard.bus.memory import MemoryBus
from rtguard.console import ConsoleConfig, mount_console
from rtguard.coverage.monitor import CoverageConfig, CoverageMonitor
from rtguard.detect.detector import Detector
from rtguard.detect.detectors import BUILTIN
from rtguard.detect.detectors.threatintel import ThreatIntelDetector
from rtguard.detect.engine import build_engine
from rtguard.detect.loader import format_load_result
from rtguard.findings.lifecycle import FindingsLifecycle, build_lifecycle
from rtguard.findings.retention import RetentionTask
from rtguard.ingest.inventory import build_inventory_router
from rtguard.ingest.routes import AgentRegistry, build_ingest_router
from rtguard.intel.feed import FeedError, load_feed
from rtguard.intel.view import StoreIntelProvider
from rtguard.orgs.service import ensure_organization
from rtguard.store.sqlite import SqlStore
from rtguard.usage.meter import UsageMeter, metering_hook
from rtguard.worker import DetectionWorker, FindingListener

if TYPE_CHECKING:
    from rtguard.bus.nats import NatsBus

_log = logging.getLogger(__name__)
DEFAULT_REGION: Final = "us-east-1"
CREDENTIALS_FILE: Final = "credentials.json"
ROLES: Final = ("all", "ingest", "detect", "api")
_INGEST: Final = frozenset({"all", "ingest"})
_DETECT: Final = frozenset({"all", "detect"})
_API: Final = frozenset({"all", "api"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything ``rtguard server`` needs, built once in the CLI."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    data_dir: Path = Path("rtguard-data")
    store_url: str = ""
    region: str = DEFAULT_REGION
    rule_paths: tuple[Path, ...] = ()
    log_level: str = "warning"
    agent_timeout: float = 60.0  # seconds without a heartbeat before coverage says "Agent not reporting"
    retention_days: int = 90  # findings not updated for this long are deleted
    publish: tuple[tuple[str, str], ...] = ()  # static (destinationType, destinationArn) pairs
    intel_dirs: tuple[Path, ...] = ()  # local threat-intel feed directories (rtguard intel update)
    role: str = "all"  # all | ingest | detect | api
    bus_url: str = "memory"  # memory | nats://HOST:PORT[,nats://...]
    nats: NatsConfig = field(default_factory=NatsConfig)  # stream, partitions, limits (NATS bus only)

    @property
    def endpoint_url(self) -> str:
        """The URL clients use."""
        return f"http://{self.listen_host}:{self.listen_port}"

    def resolved_store_url(self) -> str:
        """The store URL, defaulting to SQLite in the data directory."""
        return self.store_url or f"sqlite:///{(self.data_dir / 'rtguard.db').resolve()}"


@dataclass(slots=True, kw_only=True)
class Credentials:
    """The credentials file's content (DESIGN §4.1)."""

    account_id: str
    detector_id: str
    region: str
    endpoint_url: str
    aws_access_key_id: str
    aws_secret_access_key: str
    agent_token: str
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, str]:
        """The file's JSON object."""
        return {
            "account_id": self.account_id,
            "detector_id": self.detector_id,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": self.aws_secret_access_key,
            "agent_token": self.agent_token,
        }


def load_credentials(path: Path) -> Credentials:
    """Read a credentials file written by ``rtguard server``."""
    data = json.loads(path.read_text())
    fields = ("account_id", "detector_id", "region", "endpoint_url", "aws_access_key_id",
              "aws_secret_access_key", "agent_token")  # fmt: skip
    missing = [k for k in fields if not isinstance(data.get(k), str)]
    if missing:
        raise ValueError(f"{path}: missing or invalid keys {', '.join(missing)}")
    return Credentials(
        account_id=data["account_id"],
        detector_id=data["detector_id"],
        region=data["region"],
        endpoint_url=data["endpoint_url"],
        aws_access_key_id=data["aws_access_key_id"],
        aws_secret_access_key=data["aws_secret_access_key"],
        agent_token=data["agent_token"],
    )


def bootstrap(store: SqlStore, config: ServerConfig) -> Credentials:
    """Create account, detector, keys and agent token on first start; reuse them later."""
    path = config.data_dir / CREDENTIALS_FILE
    if path.exists():
        cred = load_credentials(path)
        if store.lookup_secret(cred.aws_access_key_id) is not None:
            if cred.endpoint_url != config.endpoint_url:
                cred.endpoint_url = config.endpoint_url
                write_credentials(path, cred)
            return cred
        _log.warning("credentials file does not match the store; creating new credentials")
    account_id = str(secrets.randbelow(9 * 10**11) + 10**11)
    store.create_account(account_id, config.region)
    detector_id = store.create_detector(account_id)
    key_id, secret = store.create_access_key(account_id)
    token = store.create_agent_token(account_id)
    cred = Credentials(
        account_id=account_id,
        detector_id=detector_id,
        region=config.region,
        endpoint_url=config.endpoint_url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        agent_token=token,
    )
    write_credentials(path, cred)
    return cred


def write_credentials(path: Path, cred: Credentials) -> None:
    """Write a credentials file atomically, readable by its owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(cred.to_json(), fh, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass(slots=True, kw_only=True)
class Server:
    """The assembled server: app, store, bus, and what its role runs (None where it does not)."""

    app: FastAPI
    store: SqlStore
    worker: DetectionWorker | None
    registry: AgentRegistry
    credentials: Credentials | None
    bus: MemoryBus | NatsBus
    role: str = "all"
    coverage: CoverageMonitor | None = None
    lifecycle: FindingsLifecycle | None = None
    retention: RetentionTask | None = None
    usage: UsageMeter | None = None


# Heartbeat counters that are not losses: (heartbeat key, metric, help text).
_AGENT_COUNTERS: Final = (
    (
        "coalesced",
        "rtguard_agent_coalesced_total",
        "Write-opens agents' kernels folded on purpose (not lost).",
    ),
    (
        "ring_retried",
        "rtguard_agent_ring_retried_total",
        "Records agents' eBPF rings refused once and took on the retry (not lost).",
    ),
    (
        "ring_wakeups",
        "rtguard_agent_ring_wakeups_total",
        "Consumer wakeups agents' eBPF rings forced while filling up (at most one per CPU per ms).",
    ),
)


def _label(value: str) -> str:
    """A Prometheus label value, escaped as the text format requires (backslash, double quote,
    newline): agent ids and drop reasons come from agents, so a hostile one must stay one label."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _ingest_metrics(server_registry: AgentRegistry) -> list[str]:
    lines = [
        "# HELP rtguard_events_received_total Events accepted from agents.",
        "# TYPE rtguard_events_received_total counter",
        f"rtguard_events_received_total {server_registry.counters['events_received']}",
        "# HELP rtguard_ingest_rejected_total Batches rejected by reason.",
        "# TYPE rtguard_ingest_rejected_total counter",
    ]
    for reason in ("auth_failed", "rejected_size", "rejected_invalid", "bus_unavailable"):
        lines.append(f'rtguard_ingest_rejected_total{{reason="{reason}"}} {server_registry.counters[reason]}')
    lines += ["# HELP rtguard_agent_dropped_total Events agents dropped, by agent and reason (heartbeats).",
              "# TYPE rtguard_agent_dropped_total counter"]  # fmt: skip
    for agent_id, beat in sorted(server_registry.snapshot().items()):
        dropped = beat.get("dropped")
        if isinstance(dropped, dict):
            for reason, count in sorted(dropped.items()):
                aid = _label(agent_id)
                rsn = _label(str(reason))
                value = count if isinstance(count, int | float) and not isinstance(count, bool) else 0
                lines.append(f'rtguard_agent_dropped_total{{agent="{aid}",reason="{rsn}"}} {value}')
    for key, name, text in _AGENT_COUNTERS:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
        for agent_id, beat in sorted(server_registry.snapshot().items()):
            count = beat.get(key)
            if isinstance(count, int) and not isinstance(count, bool):
                lines.append(f'{name}{{agent="{_label(agent_id)}"}} {count}')
    return lines


def _detect_metrics(worker: DetectionWorker) -> list[str]:
    lines = [
        "# HELP rtguard_events_processed_total Events run through detection.",
        "# TYPE rtguard_events_processed_total counter",
        f"rtguard_events_processed_total {worker.counters['events_processed']}",
        "# HELP rtguard_detection_errors_total Events detection could not process, by reason.",
        "# TYPE rtguard_detection_errors_total counter",
    ]
    for reason in ("decode_errors", "engine_errors", "no_detector", "monitoring_disabled", "listener_errors"):
        lines.append(f'rtguard_detection_errors_total{{reason="{reason}"}} {worker.counters[reason]}')
    lines += [
        "# HELP rtguard_detection_failures_total Detection passes or bus messages that failed and are retried.",
        "# TYPE rtguard_detection_failures_total counter",
    ]
    for reason in ("store_failures", "bus_errors", "pass_errors"):
        lines.append(f'rtguard_detection_failures_total{{reason="{reason}"}} {worker.counters[reason]}')
    lines += [
        "# HELP rtguard_detection_redeliveries_total Bus messages the detection worker got again.",
        "# TYPE rtguard_detection_redeliveries_total counter",
        f"rtguard_detection_redeliveries_total {worker.counters['redeliveries']}",
        "# HELP rtguard_detection_already_applied_total Redelivered messages whose findings were stored before (not counted twice).",
        "# TYPE rtguard_detection_already_applied_total counter",
        f"rtguard_detection_already_applied_total {worker.counters['messages_already_applied']}",
        "# HELP rtguard_detection_applied_keys_pruned_total Applied bus-message keys forgotten after 7 days.",
        "# TYPE rtguard_detection_applied_keys_pruned_total counter",
        f"rtguard_detection_applied_keys_pruned_total {worker.counters['applied_keys_pruned']}",
        "# HELP rtguard_findings_total Detections by finding type.",
        "# TYPE rtguard_findings_total counter",
    ]
    for ftype, n in sorted(worker.findings_by_type.items()):
        escaped = _label(ftype)
        lines.append(f'rtguard_findings_total{{type="{escaped}"}} {n}')
    return lines


def _usage_metrics(meter: UsageMeter) -> list[str]:
    lines = ["# HELP rtguard_monitored_vcpu_seconds_total Monitored vCPU-seconds metered, by usage feature.",
             "# TYPE rtguard_monitored_vcpu_seconds_total counter"]  # fmt: skip
    for feature, seconds in sorted(meter.vcpu_seconds().items()):
        lines.append(f'rtguard_monitored_vcpu_seconds_total{{feature="{_label(feature)}"}} {seconds:.6f}')
    lines += ["# HELP rtguard_usage_heartbeats_total Heartbeats seen by usage metering, by outcome.",
              "# TYPE rtguard_usage_heartbeats_total counter"]  # fmt: skip
    counts = meter.outcomes()
    for outcome in meter.outcome_names():
        lines.append(
            f'rtguard_usage_heartbeats_total{{outcome="{_label(outcome)}"}} {counts.get(outcome, 0)}'
        )
    lines += ["# HELP rtguard_usage_prune_errors_total Failed clean-ups of old usage rows.",
              "# TYPE rtguard_usage_prune_errors_total counter",
              f"rtguard_usage_prune_errors_total {meter.prune_errors}"]  # fmt: skip
    return lines


def _detectors(intel_dirs: tuple[Path, ...]) -> tuple[Detector[Any], ...]:
    """The shipped detectors; with local feed directories, the threat-intel one reads them too."""
    if not intel_dirs:
        return BUILTIN
    try:
        feed = load_feed(intel_dirs)
    except FeedError as exc:
        raise SystemExit(f"rtguard server: --intel-dir: {exc}") from exc
    _log.info("threat intel: %d domains, %d suffixes, %d networks with %s",
              len(feed.domains), len(feed.suffixes), feed.network_count, ", ".join(map(str, intel_dirs)))  # fmt: skip
    return tuple(ThreatIntelDetector(feed) if isinstance(d, ThreatIntelDetector) else d for d in BUILTIN)


def _build_bus(url: str, nats_config: NatsConfig) -> MemoryBus | NatsBus:
    """The bus named by ``--bus``: ``memory`` or a NATS URL (connected, stream ensured)."""
    if url in ("", "memory"):
        return MemoryBus()
    if url.startswith(("nats://", "tls://")):
        from rtguard.bus.nats import NatsBus

        try:
            return NatsBus(url, nats_config)
        except (BusError, ValueError) as exc:
            raise SystemExit(f"rtguard server: --bus: {exc}") from exc
    raise SystemExit(f"rtguard server: --bus {url!r}: expected memory or nats://HOST:PORT")


def build_server(config: ServerConfig, listeners: tuple[FindingListener, ...] = ()) -> Server:
    """Assemble the server for ``config.role`` (does not start threads or listen)."""
    role = config.role
    if role not in ROLES:
        raise SystemExit(f"rtguard server: --role {role!r}: expected one of {', '.join(ROLES)}")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        store = SqlStore(config.resolved_store_url())
    except ValueError as exc:
        raise SystemExit(f"rtguard server: --store: {exc}") from exc
    # Credentials are written where clients are served; ingest and detection only need the store.
    cred = bootstrap(store, config) if role in _API else None
    if cred is not None:
        ensure_organization(store, cred.account_id, int(time.time() * 1000))
    engine = None
    if role in _DETECT:
        engine, result = build_engine(config.rule_paths, detectors=_detectors(config.intel_dirs))
        if result.errors:
            store.close()
            raise SystemExit("rule files have errors:\n" + format_load_result(result, warnings=False))
    try:
        lifecycle = build_lifecycle(store, static=config.publish, export_root=config.data_dir / "exports")
    except ValueError as exc:
        store.close()
        raise SystemExit(f"rtguard server: --publish: {exc}") from exc
    try:
        # The API reads the store only: it needs no bus connection.
        bus = _build_bus(config.bus_url if role != "api" else "memory", config.nats)
    except SystemExit:
        store.close()
        raise
    registry = AgentRegistry()
    retention = RetentionTask(store, config.retention_days) if role in _DETECT else None
    worker = None
    if engine is not None:
        worker = DetectionWorker(
            store,
            engine,
            bus,
            region=config.region,
            listeners=(*listeners, lifecycle.on_finding),
            admit=lifecycle.admit,
            intel=StoreIntelProvider(store).view,
        )
    app = FastAPI(title="rtguard", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    coverage = None
    usage = None
    if role in _INGEST:
        cov = coverage = CoverageMonitor(
            store, CoverageConfig(agent_timeout=config.agent_timeout, region=config.region)
        )
        coverage.add_listener(lifecycle.on_coverage_event)
        usage = UsageMeter(store, timeout=config.agent_timeout)
        hook = metering_hook(coverage.on_heartbeat, usage)
        app.include_router(build_ingest_router(store, bus, registry, heartbeat_hook=hook))

        def runtime_settings(account_id: str) -> dict[str, bool]:
            _detector, rs = cov.settings(account_id)
            return {"runtimeMonitoring": rs.runtime, "ecsFargateAgentManagement": rs.fargate_auto,
                    "ec2AgentManagement": rs.ec2_auto}  # fmt: skip

        app.include_router(
            build_inventory_router(store, on_report=coverage.wake, settings_of=runtime_settings)
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        lines = _ingest_metrics(registry) if role in _INGEST else []
        lines += _detect_metrics(worker) if worker is not None else []
        lines += _usage_metrics(usage) if usage is not None else []
        lines += lifecycle.metrics_lines() + (retention.metrics_lines() if retention is not None else [])
        if not isinstance(bus, MemoryBus):
            lines += bus.metrics_lines()
        return "\n".join(lines) + "\n"

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "role": role})

    def server_losses() -> list[tuple[str, str, int]]:
        # the same counters as /metrics' rtguard_ingest_rejected_total and rtguard_detection_errors_total
        # (in a scaled-out deployment, those of the processes serving this role only)
        rejected = ("auth_failed", "rejected_size", "rejected_invalid")
        unprocessed = (
            "decode_errors",
            "engine_errors",
            "no_detector",
            "monitoring_disabled",
            "listener_errors",
        )
        losses = (
            [("ingest: batches rejected", r, registry.counters[r]) for r in rejected]
            if role in _INGEST
            else []
        )
        if worker is not None:
            losses += [("detection: not processed", r, worker.counters[r]) for r in unprocessed]
        return losses

    if role in _API:
        mount_console(
            app,
            store,
            ConsoleConfig(region=config.region, agent_timeout=config.agent_timeout),
            hooks=lifecycle,
            server_counters=server_losses,
        )
        mount_api(app, store, config.region, hooks=lifecycle)

    return Server(app=app, store=store, worker=worker, registry=registry, credentials=cred, bus=bus, role=role,
        coverage=coverage, lifecycle=lifecycle, retention=retention, usage=usage)  # fmt: skip


def serve(config: ServerConfig, ready: Callable[[Server], None] | None = None) -> None:
    """Run the server until interrupted."""
    server = build_server(config)
    for task in (server.lifecycle, server.retention):
        if task is not None:
            task.start()
    if server.worker is not None:
        server.worker.start()
    if server.coverage is not None:
        server.coverage.start()
    uv = uvicorn.Server(
        uvicorn.Config(
            server.app,
            host=config.listen_host,
            port=config.listen_port,
            log_level=config.log_level,
            access_log=False,
        )
    )
    if ready is not None:
        threading.Thread(target=_when_started, args=(uv, server, ready), daemon=True).start()
    try:
        uv.run()
    finally:
        if server.coverage is not None:
            server.coverage.stop()
        if server.worker is not None:
            server.worker.stop()
        for task in (server.lifecycle, server.retention):
            if task is not None:
                task.stop()
        if not isinstance(server.bus, MemoryBus):
            server.bus.close()
        server.store.close()


def _when_started(uv: uvicorn.Server, server: Server, ready: Callable[[Server], None]) -> None:
    while not uv.started:
        if uv.should_exit:
            return
        threading.Event().wait(0.05)
    ready(server)
