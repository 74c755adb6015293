"""The ptrace sensor on real processes of this machine (root): completeness, job control, signals,
threads, a debugger inside the workload, and a clean detach. The traced tree is started through
a shell that exits, so that the test process is not its parent (a tracer in the real parent's
thread group would see its own children's ptrace-stops).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtguard.agent.sensors.ptrace import PtraceSensor
from rtguard.agent.sensors.records import ExecRecord, ExitRecord, ForkRecord, Record
from rtguard.testing.privilege import require_root

pytestmark = pytest.mark.privileged
WAIT_TRACED = 'while ! grep -q "TracerPid:[[:space:]]*[1-9]" /proc/$$/status; do sleep 0.01; done'


def _detached(script: str) -> int:
    out = subprocess.run(
        ["sh", "-c", f"sh -c '{script}' >/dev/null 2>&1 </dev/null & echo $!"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def _status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


def _drain_until_gone(sensor: PtraceSensor, pid: int, timeout: float = 60) -> list[Record]:
    fd = os.pidfd_open(pid)
    out: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while not select.select([fd], [], [], 0)[0] and time.monotonic() < deadline:
            out += sensor.poll(20)
    finally:
        os.close(fd)
    time.sleep(0.1)
    return out + sensor.poll(20)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[PtraceSensor, list[int]]]:
    require_root()
    roots: list[int] = []
    sensor = PtraceSensor(include=lambda pid: pid in roots, dns=False, net_interval=0)
    sensor.start()
    try:
        yield sensor, roots
    finally:
        sensor.close()
        for pid in roots:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_every_exec_fork_and_exit_after_attach_is_recorded(tree: tuple[PtraceSensor, list[int]]) -> None:
    sensor, roots = tree
    n = 300
    pid = _detached(f"{WAIT_TRACED}; i=0; while [ $i -lt {n} ]; do /bin/true x $i; i=$((i+1)); done")
    roots.append(pid)
    recs = _drain_until_gone(sensor, pid)
    execs = [r for r in recs if isinstance(r, ExecRecord) and r.argv[:2] == ("/bin/true", "x")]
    assert sorted(int(r.argv[2]) for r in execs) == list(range(n))
    assert all(
        r.exe_sha256 and r.cwd and r.env_seen and r.stdio_sockets == (False, False, False) for r in execs
    )
    children = {r.pid for r in execs}
    forks = {r.child_pid for r in recs if isinstance(r, ForkRecord) and r.parent_pid == pid}
    exits = {r.pid for r in recs if isinstance(r, ExitRecord)}
    assert children <= forks and children <= exits and pid in exits
    assert all(r.ppid == pid for r in execs)


def test_job_control_signals_and_threads_keep_working(
    tree: tuple[PtraceSensor, list[int]], tmp_path: Path
) -> None:
    sensor, roots = tree
    mark = tmp_path / "usr1"
    script = f'trap "echo got >> {mark}" USR1; {WAIT_TRACED}; while :; do sleep 0.02; done'
    pid = _detached(script)
    roots.append(pid)
    deadline = time.monotonic() + 10
    while _status(pid)["TracerPid"] == "0" and time.monotonic() < deadline:
        sensor.poll(20)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not mark.exists() and time.monotonic() < deadline:
        sensor.poll(20)
    assert mark.read_text().strip() == "got", "a signal-delivery-stop re-injects the signal"
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while _status(pid)["State"][0] not in "Tt" and time.monotonic() < deadline:
        sensor.poll(20)
    assert _status(pid)["State"][0] in "Tt"
    os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    state = "T"
    while state not in "SR" and time.monotonic() < deadline:  # 't' also shows a stop being handled
        sensor.poll(20)
        state = _status(pid)["State"][0]
    assert state in "SR", "SIGCONT resumes a group-stopped tracee"
    # A multi-threaded child whose non-leader thread execs: recorded under the process id.
    prog = tmp_path / "thr.py"
    prog.write_text(
        "import os, threading\n"
        "threading.Thread(target=lambda: os.execv('/bin/true', ['/bin/true', 'thr'])).start()\n"
        "threading.Event().wait()\n"
    )
    thr = _detached(f"{WAIT_TRACED}; {sys.executable} {prog}")
    roots.append(thr)
    recs = _drain_until_gone(sensor, thr, 30)
    execs = [r for r in recs if isinstance(r, ExecRecord) and r.argv == ("/bin/true", "thr")]
    assert len(execs) == 1 and execs[0].tid != execs[0].pid
    sensor.close()
    st = _status(pid)
    assert st["TracerPid"] == "0" and st["State"][0] not in "tT", "close detaches and leaves it running"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_a_debugger_in_the_workload_still_works(tree: tuple[PtraceSensor, list[int]], tmp_path: Path) -> None:
    sensor, roots = tree
    out = tmp_path / "strace.out"
    pid = _detached(f"{WAIT_TRACED}; strace -f -o {tmp_path}/trace /bin/true dbg && echo ok > {out}")
    roots.append(pid)
    recs = _drain_until_gone(sensor, pid, 30)
    assert out.exists() and out.read_text().strip() == "ok"
    assert any(isinstance(r, ExecRecord) and r.argv[:1] == ("strace",) for r in recs)
    assert sensor.stats().lost is not None
