"""Privileged: the procfs fallback sensor (proc connector + packet DNS capture) on this machine.

DNS goes only to a dnsmasq this test runs on a loopback address; assertions filter on our own
pids and names.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator

import pytest

from rtguard.agent.sensors.procfs.fallback import ALWAYS_BLIND, ProcfsSensor
from rtguard.agent.sensors.records import DnsRecord, ExecRecord, ExitRecord, Record
from rtguard.testing.privilege import require_root

RESOLVER = "127.0.0.97"


@pytest.fixture
def sensor() -> Iterator[ProcfsSensor]:
    require_root()
    s = ProcfsSensor(reason="test")
    s.start()
    try:
        yield s
    finally:
        s.close()


def _collect(s: ProcfsSensor, until: float) -> list[Record]:
    out: list[Record] = []
    while time.monotonic() < until:
        out += s.poll(50)
    return out


def test_exec_and_exit_through_the_proc_connector(sensor: ProcfsSensor) -> None:
    proc = subprocess.Popen(["/bin/sleep", "0.8"])
    recs = _collect(sensor, time.monotonic() + 0.4)  # drained while it runs: /proc completes it
    proc.wait()
    recs += _collect(sensor, time.monotonic() + 0.5)
    execs = [r for r in recs if isinstance(r, ExecRecord) and r.pid == proc.pid]
    assert execs and execs[0].ktime > 0 and not execs[0].from_snapshot
    assert execs[0].argv == ("/bin/sleep", "0.8")
    assert any(isinstance(r, ExitRecord) and r.pid == proc.pid for r in recs)
    spots = sensor.blind_spots()
    assert spots[0] == "eBPF not used: test" and set(ALWAYS_BLIND) <= set(spots)


def test_dns_capture_on_loopback(sensor: ProcfsSensor) -> None:
    assert shutil.which("dnsmasq")
    dns = subprocess.Popen(
        ["dnsmasq", "-k", "-C", "/dev/null", f"--listen-address={RESOLVER}", "--bind-interfaces", "--no-resolv",
         "--no-hosts", "--address=/cap.test/10.1.2.3", "--port=53"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.3)
        q = (
            struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
            + b"\x03cap\x04test\x00"
            + struct.pack("!HH", 1, 1)
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(3)
            u.sendto(q, (RESOLVER, 53))
            u.recvfrom(512)
        recs = [r for r in _collect(sensor, time.monotonic() + 0.5) if isinstance(r, DnsRecord)]
        ours = [r for r in recs if r.server_ip == RESOLVER]
        assert any(r.outgoing and r.message == q for r in ours)
        assert any(not r.outgoing and r.message[:2] == b"\x42\x42" for r in ours)
        assert len([r for r in ours if r.outgoing]) == 1, "loopback duplicates are skipped"
    finally:
        dns.terminate()
        dns.wait(5)
