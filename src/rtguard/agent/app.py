"""The agent as an explicit, ordered list of start-up steps with guaranteed teardown.

``STARTUP`` opens the sensor, snapshots /proc, starts export and heartbeats; the main loop
drains the sensor in batches into the process table and the bounded batch processor;
``TEARDOWN`` always runs, in reverse, whatever failed. Each step is a small function over
``AgentState``. This module wires the agent's parts and must not decode, enrich or send
anything itself.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from rtguard import __version__
from rtguard.agent import memory
from rtguard.agent.export.batch import BatchProcessor
from rtguard.agent.sensors.procfs.snapshot import snapshot
from rtguard.agent.sensors.records import ExecRecord, Sensor, SensorUnavailable
from rtguard.model.codec import JsonDict, JsonValue
from rtguard.model.events import Host

if TYPE_CHECKING:
    from rtguard.agent.enrich.process_cache import Lookups, ProcessTable
    from rtguard.agent.export.http import HttpExporter

# The process table (~1.6 MiB of modules) and the HTTP client and TLS (http.client, ssl:
# ~6.5 MiB resident, through the ECS look-ups and the exporter) are imported in step_table and
# step_export, after the sensor is up and libbpf's start-up memory (vmlinux BTF, ~13 MiB for a
# moment) has been given back: loaded first, they would sit under that peak and raise the
# agent's high-water mark by as much.

_log = logging.getLogger(__name__)
POLL_MS: Final = 20
# Room the event queue must have before the pump drains the ring again: one poll's records
# (at most the sensor's batch, 1,024) can make up to two events each (an exec and a setuid
# cred change).
ROOM_PER_POLL: Final = 2_048
TRIM_INTERVAL_S: Final = 30.0  # how often freed heap goes back to the system
ENV_EKS_CLUSTER: Final = "RTGUARD_EKS_CLUSTER_NAME"  # set on EKS nodes: usage is then EKS, not EC2


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """Everything the agent needs, built once in the CLI."""

    server: str
    token: str
    sensor: str = "auto"
    spool_dir: Path = Path("/var/lib/rtguard/spool")
    ecs_agent_uri: str = "http://localhost:51678"
    ecs_metadata_uri: str = ""
    heartbeat_interval: float = 5.0
    max_queue: int = 4_096
    instance_id: str = ""
    export_exits: bool = False
    # path prefixes under which the kernel reports file changes (None: the sensor's defaults)
    file_prefixes: tuple[str, ...] | None = None


@dataclass(slots=True)
class AgentState:
    """What the steps build; teardown closes what is set."""

    config: AgentConfig
    host: Host | None = None
    sensor: Sensor | None = None
    table: ProcessTable | None = None
    exporter: HttpExporter | None = None
    processor: BatchProcessor | None = None
    identity: dict[str, str] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    heartbeat_thread: threading.Thread | None = None
    counters: Counter[str] = field(default_factory=Counter)
    enabled: bool = True
    disabled_reason: str = ""  # the server's reason when it answered enabled=false


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def step_host(state: AgentState) -> None:
    """Identify the host."""
    state.host = Host(
        hostname=socket.gethostname(),
        instance_id=state.config.instance_id or os.environ.get("RTGUARD_INSTANCE_ID", ""),
        boot_id=_boot_id(),
    )


def _open_sidecar() -> Sensor:
    """The ptrace sensor of an ECS Fargate sidecar (pidMode: task, SYS_PTRACE only)."""
    from rtguard.agent.sensors.ptrace import PtraceSensor

    sensor = PtraceSensor()
    sensor.start()
    return sensor


def _open_sensor(kind: str, file_prefixes: tuple[str, ...] | None = None) -> Sensor:
    if kind == "sidecar":
        return _open_sidecar()
    from rtguard.agent.sensors.bpf.sensor import BpfSensor
    from rtguard.agent.sensors.procfs.fallback import ProcfsSensor

    if kind in ("auto", "ebpf"):
        try:
            sensor = BpfSensor() if file_prefixes is None else BpfSensor(file_prefixes=file_prefixes)
        except ValueError as exc:
            raise SensorUnavailable(f"bad file prefixes: {exc}") from exc
        try:
            sensor.start()
            return sensor
        except SensorUnavailable as exc:
            if kind == "ebpf":
                raise
            from rtguard.agent.sensors.ptrace import sidecar_unavailable_reason

            if not sidecar_unavailable_reason():
                print(
                    f"rtguard agent: eBPF sensor unavailable, using the ptrace sidecar sensor: {exc}",
                    file=sys.stderr,
                )
                return _open_sidecar()
            print(f"rtguard agent: eBPF sensor unavailable, falling back to procfs: {exc}", file=sys.stderr)
            _log.warning("ebpf sensor unavailable, using procfs fallback", extra={"reason": str(exc)})
            fallback = ProcfsSensor(reason=str(exc).splitlines()[0])
            fallback.start()
            return fallback
    if kind == "procfs":
        procfs = ProcfsSensor(reason="selected with --sensor procfs")
        procfs.start()
        return procfs
    raise SensorUnavailable(f"unknown sensor {kind!r}: use auto, ebpf, sidecar or procfs")


def step_sensor(state: AgentState) -> None:
    """Open and attach the sensor before the snapshot, so no process falls in between."""
    state.sensor = _open_sensor(state.config.sensor, state.config.file_prefixes)
    memory.release()  # libbpf's load-time memory, before anything else is imported or built
    _log.info("sensor started", extra={"sensor": state.sensor.name})


def _prefer_sensor_hash(lookups: Lookups) -> Lookups:
    """Use the digest a sensor took while it held the process (ptrace), else look it up."""
    fallback = lookups.sha256

    def sha256(pid: int, path: str, rec: ExecRecord) -> str:
        return rec.exe_sha256 or fallback(pid, path, rec)

    return dataclasses.replace(lookups, sha256=sha256)


def step_table(state: AgentState) -> None:
    """Build the process table and seed it from /proc."""
    from rtguard.agent.enrich.lookups import build_lookups
    from rtguard.agent.enrich.process_cache import ProcessTable

    assert state.host is not None
    lookups, identity = build_lookups(state.config.ecs_agent_uri, state.config.ecs_metadata_uri)
    lookups = _prefer_sensor_hash(lookups)
    state.identity = identity
    state.table = ProcessTable(state.host, lookups, exit_events=state.config.export_exits)
    records = snapshot()
    state.table.load_snapshot(records)
    state.counters["snapshot_processes"] = len(records)


def step_export(state: AgentState) -> None:
    """Start the exporter (with its spool) and the bounded batch processor."""
    from rtguard.agent.export.http import AgentIdentity, HttpExporter
    from rtguard.agent.export.spool import DiskSpool

    cfg = state.config
    spool = DiskSpool(cfg.spool_dir)
    state.exporter = HttpExporter(cfg.server, cfg.token, spool, AgentIdentity(cfg.spool_dir))
    state.processor = BatchProcessor(state.exporter, max_queue=cfg.max_queue)


def heartbeat_payload(state: AgentState) -> JsonDict:
    """The heartbeat body: identity, sensor, counters of events sent and dropped by reason."""
    dropped: dict[str, int] = {}
    if state.processor is not None:
        dropped.update({f"queue_{k}": v for k, v in state.processor.dropped.items()})
    coalesced = ring_retried = ring_wakeups = 0
    if state.sensor is not None:
        stats = state.sensor.stats()
        dropped.update({f"sensor_{k}": v for k, v in (stats.lost or {}).items()})
        coalesced, ring_retried, ring_wakeups = stats.coalesced, stats.ring_retried, stats.ring_wakeups
    if state.exporter is not None:
        for key in ("events_rejected", "events_spool_full", "events_server_too_old"):
            if state.exporter.counters[key]:
                dropped[key] = state.exporter.counters[key]
    sent = state.exporter.counters["events_sent"] if state.exporter else 0
    host = state.host
    return {
        "agent_id": state.exporter.agent_id if state.exporter else "",
        "agent_version": __version__,
        "sensor": state.sensor.name if state.sensor else "",
        "blind_spots": list[JsonValue](state.sensor.blind_spots()) if state.sensor else [],
        "hostname": host.hostname if host else "",
        "instance_id": host.instance_id if host else "",
        # For usage metering (host agents bill the host's vCPUs; an EKS node's agent names its
        # cluster). Servers that predate these keys ignore them; heartbeats without them stay valid.
        "host_vcpus": os.cpu_count() or 0,
        "eks_cluster_name": os.environ.get(ENV_EKS_CLUSTER, ""),
        "resource": dict(state.identity),
        "events_emitted": state.processor.emitted if state.processor else 0,
        "events_sent": sent,
        "dropped": dict(dropped),
        # repeated write-opens of a file by one process within a second, folded in the kernel
        # on purpose: not a loss, but visible
        "coalesced": coalesced,
        # the eBPF ring's diagnostics (not losses): refusals the retry delivered, forced wakeups
        "ring_retried": ring_retried,
        "ring_wakeups": ring_wakeups,
        "processes_tracked": len(state.table) if state.table else 0,
        "enabled": state.enabled,
        "disabled_reason": state.disabled_reason,
        "time": time.time(),
    }


def _heartbeat_loop(state: AgentState) -> None:
    trimmed = time.monotonic()
    while not state.stop.is_set():
        if time.monotonic() - trimmed >= TRIM_INTERVAL_S:
            memory.trim()
            trimmed = time.monotonic()
        if state.exporter is not None:
            answer = state.exporter.heartbeat(heartbeat_payload(state))
            if answer is not None:
                enabled = bool(answer.get("enabled", True))
                if enabled != state.enabled:
                    _log.warning(
                        "monitoring switched by the server (events are sent only while enabled)",
                        extra={"enabled": enabled, "reason": str(answer.get("reason", ""))},
                    )
                state.enabled = enabled
                state.disabled_reason = "" if enabled else str(answer.get("reason", ""))
        state.stop.wait(state.config.heartbeat_interval)


def step_heartbeat(state: AgentState) -> None:
    """Start heartbeats."""
    state.heartbeat_thread = threading.Thread(
        target=_heartbeat_loop, args=(state,), name="rtguard-heartbeat", daemon=True
    )
    state.heartbeat_thread.start()


Step = Callable[[AgentState], None]
STARTUP: Final[tuple[Step, ...]] = (step_host, step_sensor, step_table, step_export, step_heartbeat)


def teardown_heartbeat(state: AgentState) -> None:
    """Stop heartbeats."""
    state.stop.set()
    if state.heartbeat_thread is not None:
        state.heartbeat_thread.join(5)


def teardown_sensor(state: AgentState) -> None:
    """Detach the sensor."""
    if state.sensor is not None:
        state.sensor.close()


def teardown_export(state: AgentState) -> None:
    """Flush queued events (to the server or the spool) and stop export."""
    if state.processor is not None:
        state.processor.shutdown()
    elif state.exporter is not None:
        state.exporter.shutdown()


TEARDOWN: Final[tuple[Step, ...]] = (teardown_heartbeat, teardown_sensor, teardown_export)


def pump(state: AgentState, timeout_ms: int = POLL_MS) -> int:
    """Drain the sensor once into the table and the batch processor; return records handled."""
    assert state.sensor is not None and state.table is not None and state.processor is not None
    # Backpressure: while the flusher is behind, records wait in the kernel's ring (4 MiB,
    # overflow counted there) rather than being decoded and then dropped from a full queue.
    if not state.processor.wait_for_room(ROOM_PER_POLL, timeout_ms / 1000):
        return 0
    records = state.sensor.poll(timeout_ms)
    table, processor, enabled = state.table, state.processor, state.enabled
    # Exits keep the process table right; detection does not need them, so unless
    # --export-exits the table makes no exit events (step_table) and they stay on the node.
    for rec in records:
        for event in table.events(rec):
            if enabled:
                processor.emit(event)
    # DNS queries wait in the table for their answer; unanswered ones leave after a timeout.
    for event in table.flush_dns(time.clock_gettime_ns(time.CLOCK_MONOTONIC)):
        if enabled:
            processor.emit(event)
    return len(records)


def run_agent(config: AgentConfig, ready: Callable[[AgentState], None] | None = None) -> int:
    """Run the agent until SIGTERM or SIGINT; return the process exit code."""
    state = AgentState(config=config)
    done: list[Step] = []

    def _stop(_sig: int, _frame: object) -> None:
        state.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    memory.tune_allocator()
    try:
        for step in STARTUP:
            step(state)
            done.append(step)
        memory.release()  # the BPF load and the /proc snapshot leave freed heap behind
        memory.tune_gc()
        print(f"rtguard agent running (sensor {state.sensor.name if state.sensor else '?'}) "
              f"-> {config.server}", flush=True)  # fmt: skip
        if ready is not None:
            ready(state)
        while not state.stop.is_set():
            pump(state)
    except SensorUnavailable as exc:
        print(f"rtguard agent: cannot start the sensor: {exc}", file=sys.stderr)
        return 3
    finally:
        for teardown in TEARDOWN:
            try:
                teardown(state)
            except Exception:
                _log.exception("teardown step failed", extra={"step": teardown.__name__})
    return 0
