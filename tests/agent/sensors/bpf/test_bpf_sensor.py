"""Privileged: the real BPF sensor on this kernel, checked against /proc for processes we start.

Other processes run on the machine, so every assertion filters records to our own process
tree (pids we started, or a unique token in argv).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rtguard.agent.sensors.bpf import abi
from rtguard.agent.sensors.bpf.libbpf import ensure_tracefs
from rtguard.agent.sensors.bpf.sensor import BpfSensor
from rtguard.agent.sensors.records import ExecRecord, ExitRecord, ForkRecord, Record, SensorUnavailable
from rtguard.testing.privilege import require_root

CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")
CGROUP_V2 = Path("/sys/fs/cgroup/unified")
NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def collect(
    sensor: BpfSensor,
    done: Callable[[list[Record]], bool],
    timeout_s: float = 10.0,
    wait_ms: int = 50,
    seen: list[Record] | None = None,
) -> list[Record]:
    """Poll until ``done(records so far)`` or the timeout; return everything seen (``seen`` first)."""
    seen = list(seen or [])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen += sensor.poll(wait_ms)
        if done(seen):
            return seen
    raise AssertionError(f"timed out; {len(seen)} records seen")


def execs(recs: list[Record], pid: int) -> list[ExecRecord]:
    return [r for r in recs if isinstance(r, ExecRecord) and r.pid == pid]


def exited(pid: int) -> Callable[[list[Record]], bool]:
    return lambda recs: any(isinstance(r, ExitRecord) and r.pid == pid for r in recs)


def one_exit(recs: list[Record], pid: int) -> ExitRecord:
    found = [r for r in recs if isinstance(r, ExitRecord) and r.pid == pid]
    assert len(found) == 1, found
    return found[0]


def with_token(token: str) -> Callable[[list[Record]], bool]:
    return lambda recs: any(isinstance(r, ExecRecord) and token in r.argv for r in recs)


def proc_starttime_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22 counted from pid


def test_missing_object_says_run_make_bpf(tmp_path: Path) -> None:
    s = BpfSensor(object_path=tmp_path / "absent.bpf.o")
    with pytest.raises(SensorUnavailable, match="make bpf"):
        s.start()
    s.close()


def test_exec_fork_exit_of_a_shell_and_its_child(sensor: BpfSensor) -> None:
    sensor.poll(0)
    proc = subprocess.Popen(
        ["/bin/sh", "-c", "/bin/echo child; exec /bin/echo hello world"], stdout=subprocess.DEVNULL
    )
    assert proc.wait(timeout=10) == 0
    recs = collect(sensor, exited(proc.pid))
    me = os.getpid()

    forks = [r for r in recs if isinstance(r, ForkRecord)]
    (fork_sh,) = [f for f in forks if f.child_pid == proc.pid]
    assert fork_sh.parent_pid == me
    assert fork_sh.parent_start_boottime // NS_PER_TICK == proc_starttime_ticks(me)

    sh_execs = execs(recs, proc.pid)
    assert [e.argv for e in sh_execs] == [
        ("/bin/sh", "-c", "/bin/echo child; exec /bin/echo hello world"),
        ("/bin/echo", "hello", "world"),
    ]
    last = sh_execs[-1]
    assert (last.filename, last.comm, last.ppid) == ("/bin/echo", "echo", me)
    assert not last.argv_truncated
    assert last.start_boottime == fork_sh.child_start_boottime
    assert last.parent_start_boottime == fork_sh.parent_start_boottime

    (fork_child,) = [f for f in forks if f.parent_pid == proc.pid]
    (child_exec,) = execs(recs, fork_child.child_pid)
    assert child_exec.argv == ("/bin/echo", "child")
    assert child_exec.ppid == proc.pid
    assert child_exec.parent_start_boottime == last.start_boottime
    assert one_exit(recs, fork_child.child_pid).exit_code == 0

    sh_exit = one_exit(recs, proc.pid)
    assert sh_exit.exit_code == 0
    assert sh_exit.start_boottime == fork_sh.child_start_boottime
    assert sh_exit.ktime > last.ktime > sh_execs[0].ktime > fork_sh.ktime > 0


def test_cgroup_path_ids_and_start_time_match_proc(sensor: BpfSensor) -> None:
    rel = f"rtguardtest/{secrets.token_hex(16)}/{secrets.token_hex(32)}"
    mem_dir, v2_dir = CGROUP_V1_MEMORY / rel, CGROUP_V2 / rel
    mem_dir.mkdir(parents=True)
    v2_dir.mkdir(parents=True)
    proc: subprocess.Popen[bytes] | None = None
    try:
        script = f"echo $$ > {mem_dir}/cgroup.procs && echo $$ > {v2_dir}/cgroup.procs && exec /bin/sleep 30"
        proc = subprocess.Popen(["/bin/sh", "-c", script])
        recs = collect(sensor, lambda rs: any(e.filename == "/bin/sleep" for e in execs(rs, proc.pid)))
        rec = next(e for e in execs(recs, proc.pid) if e.filename == "/bin/sleep")

        mem_line = next(
            ln
            for ln in Path(f"/proc/{proc.pid}/cgroup").read_text().splitlines()
            if ln.split(":")[1] == "memory"
        )
        assert rec.cgroup_path == mem_line.split(":", 2)[2] == f"/{rel}"
        assert rec.cgroup_id == v2_dir.stat().st_ino
        assert rec.start_boottime // NS_PER_TICK == proc_starttime_ticks(proc.pid)
        assert rec.mntns == os.stat(f"/proc/{proc.pid}/ns/mnt").st_ino
        assert rec.pidns == os.stat(f"/proc/{proc.pid}/ns/pid").st_ino
        assert rec.ns_pid == proc.pid
        exe = os.stat("/bin/sleep")
        assert (rec.exe_dev, rec.exe_ino, rec.exe_mtime) == (exe.st_dev, exe.st_ino, exe.st_mtime_ns)
        assert rec.argv == ("/bin/sleep", "30")

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        exit_rec = one_exit(collect(sensor, exited(proc.pid)), proc.pid)
        assert exit_rec.exit_code == signal.SIGKILL  # raw wait status: killed by signal 9
        assert exit_rec.start_boottime == rec.start_boottime
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for d in (mem_dir, v2_dir):
            for p in (d, d.parent, d.parent.parent):
                p.rmdir()


def test_pid_namespace_and_credentials(sensor: BpfSensor) -> None:
    token = f"rtguard-{secrets.token_hex(8)}"
    subprocess.run(
        ["unshare", "--fork", "--pid", "/bin/sh", "-c", f"exec /bin/echo {token}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    setpriv = [
        "setpriv",
        "--ruid",
        "65534",
        "--euid",
        "0",
        "--rgid",
        "65533",
        "--egid",
        "0",
        "--clear-groups",
    ]
    subprocess.run(
        [*setpriv, "/bin/echo", token + "-cred"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    recs = collect(sensor, lambda rs: with_token(token)(rs) and with_token(token + "-cred")(rs))
    ns_exec = next(r for r in recs if isinstance(r, ExecRecord) and token in r.argv)
    assert ns_exec.ns_pid == 1
    assert ns_exec.pidns != os.stat("/proc/self/ns/pid").st_ino
    assert ns_exec.pid != 1
    cred_exec = next(
        r for r in recs if isinstance(r, ExecRecord) and r.argv == ("/bin/echo", token + "-cred")
    )
    assert (cred_exec.uid, cred_exec.euid, cred_exec.gid, cred_exec.egid) == (65534, 0, 65533, 0)


def test_long_argv_is_cut_and_flagged(sensor: BpfSensor) -> None:
    token = f"rtguard-{secrets.token_hex(8)}"
    long_arg = "x" * (abi.ARGS_MAX + 2000)
    subprocess.run(["/bin/true", token, long_arg], check=True)
    recs = collect(sensor, with_token(token))
    rec = next(r for r in recs if isinstance(r, ExecRecord) and token in r.argv)
    assert rec.argv_truncated
    assert rec.argv[:2] == ("/bin/true", token)
    assert rec.argv[2] == "x" * len(rec.argv[2])
    assert sum(len(a) + 1 for a in rec.argv) == abi.ARGS_MAX + 1  # cut at ARGS_MAX bytes, no final NUL


def test_lost_counters_are_readable(sensor: BpfSensor) -> None:
    st = sensor.stats()
    assert st.lost is not None
    assert set(st.lost) == {"ringbuf_full", "ringbuf_busy", "pending_full", "decode_error"}
    assert {"retried", "ringbuf_busy"} <= set(sensor.kernel_counters())
    assert st.lost["decode_error"] == 0
    assert st.records > 0
    assert sensor.kernel_counters()["emitted"] >= st.records


def test_a_full_ring_counts_lost_records() -> None:
    require_root()
    small = BpfSensor(ring_bytes=os.sysconf("SC_PAGE_SIZE"), wakeup_bytes=0)
    small.start()
    try:
        for _ in range(40):  # ~3 records each, far more than one page holds
            subprocess.run(["/bin/true"], check=True)
        got = small.poll(0)
        lost = small.stats().lost
        assert lost is not None
        assert lost["ringbuf_full"] > 0
        assert lost["ringbuf_busy"] == 0  # a full ring is told apart from a refusal with room
        assert small.kernel_counters()["emitted"] >= len(got) > 0
    finally:
        small.close()
    assert small.stats().lost == lost  # final counters survive close


def test_batches_are_bounded_and_nothing_is_left_behind() -> None:
    require_root()
    batched = BpfSensor(max_batch=5)
    batched.start()
    try:
        procs = [subprocess.Popen(["/bin/true"]) for _ in range(6)]
        for p in procs:
            p.wait()
        pids = {p.pid for p in procs}
        time.sleep(0.05)
        first = batched.poll(0)
        assert len(first) == 5
        # Drain without waiting: other processes on the machine keep writing to the ring.
        recs = collect(
            batched,
            lambda rs: pids <= {r.pid for r in rs if isinstance(r, ExitRecord)},
            wait_ms=0,
            seen=first,
        )
        assert pids <= {r.child_pid for r in recs if isinstance(r, ForkRecord)}
        assert pids <= {r.pid for r in recs if isinstance(r, ExecRecord)}
    finally:
        batched.close()


def test_ensure_tracefs_finds_or_mounts_it() -> None:
    require_root()
    assert (ensure_tracefs() / "events" / "sched" / "sched_process_exec").is_dir()


def _spawn_later(delay_s: float, *args: str) -> threading.Thread:
    def run() -> None:
        time.sleep(delay_s)
        subprocess.run(["/bin/true", *args], check=True)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_records_do_not_wake_the_consumer_below_the_threshold() -> None:
    require_root()
    quiet = BpfSensor(wakeup_bytes=0)
    quiet.start()
    try:
        # Epoll on a ring is level-triggered: data already there when the wait starts ends it
        # at once, whatever the flags. Other processes write too, so try until one wait starts
        # on an empty ring; in that wait our exec must not wake us.
        for _attempt in range(10):
            while quiet.poll(0):
                pass
            token = f"rtguard-{secrets.token_hex(8)}"
            t = _spawn_later(0.05, token)
            t0 = time.monotonic()
            got = quiet.poll(400)
            elapsed = time.monotonic() - t0
            t.join()
            if elapsed < 0.35:
                assert got, f"woken after {elapsed:.3f}s with nothing to read"
                continue  # something was already in the ring: not a clean trial
            mine = [r for r in got if isinstance(r, ExecRecord) and token in r.argv]
            assert mine, "records written during the wait are returned at its end"
            assert mine[0].ktime / 1e9 < t0 + elapsed - 0.1, "our exec came early in the wait"
            break
        else:
            pytest.fail("the ring was never empty at the start of a wait: another process kept writing")
        assert quiet.kernel_counters()["wakeups"] == 0
    finally:
        quiet.close()


def test_a_filling_ring_forces_a_wakeup() -> None:
    require_root()
    eager = BpfSensor(wakeup_bytes=1)  # any record crosses the threshold
    eager.start()
    try:
        eager.poll(0)
        t = _spawn_later(0.05)
        t0 = time.monotonic()
        got = eager.poll(5000)
        elapsed = time.monotonic() - t0
        t.join()
        assert got
        assert elapsed < 2.5, f"not woken: poll took {elapsed:.3f}s"
        assert eager.kernel_counters()["wakeups"] > 0
    finally:
        eager.close()


def test_forced_wakeups_are_limited_to_one_per_cpu_per_millisecond() -> None:
    """A consumer that is behind must not make every record of the workload pay a wakeup (a
    self-interrupt and a wait-queue walk): over the threshold, at most one per CPU per ms."""
    require_root()
    eager = BpfSensor(wakeup_bytes=1)  # every record is over the threshold
    eager.start()
    try:
        while eager.poll(0):
            pass
        before = eager.kernel_counters()
        script = "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done"
        t0 = time.monotonic()
        subprocess.run(["taskset", "-c", "0", "/bin/sh", "-c", script], check=True)
        elapsed_ms = (time.monotonic() - t0) * 1000
        after = eager.kernel_counters()
        records = after["emitted"] - before["emitted"]
        wakeups = after["wakeups"] - before["wakeups"]
        assert records >= 3000  # fork, exec and exit of each
        cpus = os.cpu_count() or 1
        assert 0 < wakeups <= cpus * (elapsed_ms + 2), (wakeups, records, elapsed_ms)
        assert wakeups < records / 2, (wakeups, records)  # one per record before ABI 3.3.1
        # the agent's heartbeat reports the kernel's count (the stats read the counters anew)
        stats = eager.stats()
        assert stats.ring_wakeups >= after["wakeups"] > 0
        assert stats.ring_retried == eager.kernel_counters()["retried"]
    finally:
        eager.close()


def test_missing_capabilities_are_explained() -> None:
    require_root()
    code = (
        "from rtguard.agent.sensors.bpf.sensor import BpfSensor\n"
        "from rtguard.agent.sensors.records import SensorUnavailable\n"
        "try:\n    BpfSensor().start()\nexcept SensorUnavailable as e:\n    print(e)\n"
    )
    drop = "--bounding-set=-sys_admin,-bpf,-perfmon"
    out = subprocess.run(
        ["setpriv", drop, sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert "needs root" in out
    assert "--sensor procfs" in out


def test_threads_are_not_processes(sensor: BpfSensor) -> None:
    code = (
        "import ctypes, threading, time\n"
        "ts = [threading.Thread(target=time.sleep, args=(0.4,)) for _ in range(3)]\n"
        "[t.start() for t in ts]\n"
        "ctypes.CDLL(None).pthread_exit(None)\n"  # the leader thread leaves first
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    assert proc.wait(timeout=10) == 0
    recs = collect(sensor, exited(proc.pid))
    time.sleep(0.1)
    recs += sensor.poll(0)
    (fork,) = [r for r in recs if isinstance(r, ForkRecord) and r.child_pid == proc.pid]
    end = one_exit(recs, proc.pid)  # one record, when the last thread ends, not the leader
    assert end.ktime - fork.ktime >= 0.35e9
    assert end.start_boottime == fork.child_start_boottime
    assert not [r for r in recs if isinstance(r, ForkRecord) and r.parent_pid == proc.pid]


def test_wait_sleeps_through_a_steady_stream_until_the_timer() -> None:
    """Records written without a forced wakeup do not cut the wait short (edge-triggered).

    A shell loop keeps exec'ing; with a level-triggered wait every call would return at once
    (the ring always holds a record), draining a few records per call.
    """
    require_root()
    s = BpfSensor()
    s.start()
    # A tight loop: a record every few hundred µs (a level-triggered wait would return at once),
    # yet well below a full batch (1,024) or the forced-wakeup fill level per 100 ms.
    storm = subprocess.Popen(["/bin/sh", "-c", "while :; do /bin/true; done"])
    try:
        time.sleep(0.2)  # the stream is flowing
        while len(s.poll(0)) >= 1024:  # drain what came meanwhile: no backlog left
            pass
        sizes: list[int] = []
        start = time.monotonic()
        while len(sizes) < 5:
            sizes.append(len(s.poll(100)))
        took = time.monotonic() - start
    finally:
        storm.kill()
        storm.wait()
        s.close()
    assert sum(sizes) > 0, "the trickle's records came"
    assert took >= 0.45, f"5 waits of 100 ms returned in {took:.3f}s with {sizes} records: no sleep"


def test_exec_names_what_stdio_is(sensor: BpfSensor) -> None:
    """stdin/stdout/stderr at exec: a pipe, a TCP socket, a unix socketpair; then /dev/null, a
    regular file and a pseudo-terminal (ABI 3.1 ``stdio_kinds``)."""
    import socket
    import tempfile

    listener = socket.create_server(("127.0.0.1", 0))
    tcp = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()
    left, right = socket.socketpair()
    master, slave = os.openpty()
    token1, token2 = f"stdio-{secrets.token_hex(4)}", f"stdio-{secrets.token_hex(4)}"
    try:
        with subprocess.Popen(
            ["/bin/sh", "-c", "exit 0", token1],
            stdin=subprocess.PIPE,
            stdout=tcp.fileno(),
            stderr=left.fileno(),
        ) as first:
            assert first.stdin is not None
            first.stdin.close()
            first.wait(10)
        with tempfile.TemporaryFile() as out:
            subprocess.run(
                ["/bin/sh", "-c", "exit 0", token2],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=slave,
                check=True,
            )
        recs = collect(sensor, lambda rs: with_token(token1)(rs) and with_token(token2)(rs))
    finally:
        for s in (listener, tcp, peer, left, right):
            s.close()
        os.close(master)
        os.close(slave)
    (a,) = [r for r in recs if isinstance(r, ExecRecord) and token1 in r.argv]
    (b,) = [r for r in recs if isinstance(r, ExecRecord) and token2 in r.argv]
    assert a.stdio_types == ("pipe", "inet", "unix")
    assert a.stdio_sockets == (False, True, True)
    assert b.stdio_types == ("char", "file", "tty")
    assert b.stdio_sockets == (False, False, False)
