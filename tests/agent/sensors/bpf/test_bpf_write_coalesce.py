"""Privileged: repeated write-opens of one file by one process are coalesced in the kernel.

The first open is reported; re-opens within a second only raise the ``coalesced`` counter (not a
loss); after the window the file is reported again, and another process is reported on its own.
Records are filtered to the pids we start.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from rtguard.agent.sensors.bpf.sensor import BpfSensor
from rtguard.agent.sensors.records import FileRecord, Record
from rtguard.testing.privilege import require_root

OPENER = """
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
time.sleep(1.2)
os.close(os.open(path, os.O_WRONLY | os.O_TRUNC))
print(os.getpid())
"""


def _run(sensor: BpfSensor, path: str, n: int, seen: list[Record]) -> int:
    proc = subprocess.Popen([sys.executable, "-c", OPENER, path, str(n)], stdout=subprocess.PIPE, text=True)
    while proc.poll() is None:
        seen += sensor.poll(20)
    seen += sensor.poll(100)
    return int(proc.communicate()[0])


def test_write_opens_of_one_file_are_coalesced_per_process_and_second() -> None:
    require_root()
    with tempfile.TemporaryDirectory(dir="/tmp") as d, BpfSensor() as sensor:
        path = d + "/rtg-coalesce"
        seen: list[Record] = []
        before = sensor.stats().coalesced
        pid1 = _run(sensor, path, 500, seen)
        pid2 = _run(sensor, path, 1, seen)
        time.sleep(0.2)
        seen += sensor.poll(100)
        after = sensor.stats().coalesced
    writes = [(r.pid, r.path) for r in seen if isinstance(r, FileRecord) and r.path == path]
    # pid1: its first open, then (after 1.2 s) one more; pid2: its first open, then one more.
    assert writes == [(pid1, path), (pid1, path), (pid2, path), (pid2, path)], writes
    assert after - before >= 499
