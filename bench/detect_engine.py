"""Detection-engine throughput: events per second on one core with every shipped rule loaded.

Builds a recorded-like stream (mostly benign execs and exits of a web workload, some
connects, DNS queries and file writes, about 1 in 1,000 events malicious), then times
``Engine.evaluate`` over it, side by side with an engine that has no rules (the loop's own
cost). Budget (DESIGN §7): at least 100,000 events/s. Prints numbers; asserts nothing.

Run: ``.venv/bin/python bench/detect_engine.py [--events N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

from rtguard.detect import Engine, build_engine
from rtguard.model.events import Event, EventKind
from rtguard.testing.events import ancestor, connect_event, dns_event, exec_event, exit_event, file_event

_BENIGN_EXECS: tuple[tuple[str, ...], ...] = (
    ("python3", "-m", "gunicorn", "app.wsgi:application", "--workers", "4", "--bind", "0.0.0.0:8000"),
    ("sh", "-c", "curl -fsS http://localhost:8000/healthz || exit 1"),
    ("curl", "-fsS", "http://localhost:8000/healthz"),
    ("node", "/srv/app/server.js", "--port", "3000"),
    ("java", "-Xmx512m", "-jar", "/opt/app/service.jar", "--spring.profiles.active=prod"),
    ("ls", "-la", "/var/log/app"),
    ("cat", "/etc/os-release"),
    ("grep", "-r", "ERROR", "/var/log/app/app.log"),
    ("find", ".", "-name", "*.pyc", "-delete"),
    ("aws", "s3", "cp", "/tmp/report.csv", "s3://reports-bucket/2024/report.csv"),
    ("nginx", "-g", "daemon off;"),
    ("bash", "/docker-entrypoint.sh", "start"),
    ("date", "+%s"),
    ("sleep", "30"),
    ("ps", "aux"),
    ("wget", "-q", "-O", "-", "https://example.com/api/v1/status"),
)
_MALICIOUS_EXECS: tuple[tuple[str, ...], ...] = (
    ("xmrig", "-o", "stratum+tcp://pool.example.net:3333", "-u", "wallet", "--donate-level", "1"),
    ("nmap", "-sS", "10.0.0.0/24"),
    ("curl", "-s", "http://169.254.169.254/latest/meta-data/iam/security-credentials/role"),
    ("aws", "sts", "get-caller-identity"),
    ("hydra", "-l", "admin", "-P", "pass.txt", "ssh://10.0.0.9"),
)


def make_stream(n: int, seed: int = 7) -> list[Event]:
    """A deterministic mix of event kinds resembling a recorded container workload."""
    rng = random.Random(seed)
    lineage = (
        ancestor("bash", pid=50),
        ancestor("containerd-shim", pid=10, exe_path="/usr/bin/containerd-shim"),
    )
    out: list[Event] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.001:
            argv = rng.choice(_MALICIOUS_EXECS)
            out.append(exec_event(argv[0], argv=argv, lineage=lineage))
        elif r < 0.45:
            argv = rng.choice(_BENIGN_EXECS)
            out.append(exec_event(argv[0], argv=argv, lineage=lineage, exe_sha256="ab" * 32))
        elif r < 0.90:
            out.append(exit_event(rng.choice(_BENIGN_EXECS)[0]))
        elif r < 0.95:
            out.append(connect_event(f"10.0.{rng.randrange(256)}.{rng.randrange(256)}", 5432, name="python3"))
        elif r < 0.98:
            out.append(dns_event(f"svc{rng.randrange(50)}.internal", answers=("10.0.0.1",), name="python3"))
        else:
            out.append(file_event(f"/var/log/app/app-{rng.randrange(10)}.log", name="python3"))
    return out


def _rate(engine: Engine, events: Sequence[Event], repeat: int) -> tuple[float, int]:
    best = float("inf")
    detections = 0
    for _ in range(repeat):
        start = time.perf_counter()
        detections = sum(len(engine.evaluate(e)) for e in events)
        best = min(best, time.perf_counter() - start)
    return len(events) / best, detections


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    events = make_stream(args.events)
    engine, result = build_engine()
    if not result.ok:
        raise SystemExit(f"shipped rules do not load: {result.errors}")
    empty = Engine(())
    execs = [e for e in events if e.kind is EventKind.PROCESS_EXEC]

    base, _ = _rate(empty, events, args.repeat)
    full, found = _rate(engine, events, args.repeat)
    exec_only, _ = _rate(engine, execs, args.repeat)
    print(
        f"rules loaded:              {len(engine.rules)} (process_exec: {len(engine.rules_for(EventKind.PROCESS_EXEC))})"
    )
    print(f"events:                    {len(events)} ({len(execs)} process_exec), detections: {found}")
    print(f"no rules (loop cost):      {base:12,.0f} events/s")
    print(f"shipped rules, mixed:      {full:12,.0f} events/s  ({full / 100_000:.2f}x the 100,000/s budget)")
    print(f"shipped rules, execs only: {exec_only:12,.0f} events/s")
    print(f"rules cost / loop cost:    {base / full:.2f}x")


if __name__ == "__main__":
    main()
