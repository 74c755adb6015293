"""Real runc containers named like ECS tasks: cgroups, overlay upper layer, exec, and cleanup."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from rtguard.testing.containers import (
    RuncContainer,
    RuncError,
    cleanup_stale,
    new_container_id,
    new_task_id,
    run_container,
)
from rtguard.testing.privilege import require_root

pytestmark = pytest.mark.privileged

_CAP_SYS_PTRACE = 19


def _status_field(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return value.strip()
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def _cap_eff(pid: int) -> int:
    return int(_status_field(pid, "CapEff"), 16)


def _mounts_under(path: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(path) in line]


def _cgroup_leftovers(cgroups_path: str) -> list[Path]:
    rel = cgroups_path.strip("/")
    parent = str(Path(rel).parent)
    roots = [p for p in Path("/sys/fs/cgroup").iterdir() if p.is_dir()]
    return [r / x for r in roots for x in (rel, parent) if x not in (".", "ecs") and (r / x).exists()]


def _assert_gone(c: RuncContainer, workdir: Path) -> None:
    assert not workdir.exists()
    assert _mounts_under(workdir) == []
    assert _cgroup_leftovers(c.cgroups_path) == []
    state = subprocess.run(["runc", "state", c.name], capture_output=True, text=True, check=False)
    assert state.returncode != 0


def test_ids() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", new_container_id())
    assert re.fullmatch(r"[0-9a-f]{32}", new_task_id())
    assert new_container_id() != new_container_id()


def test_ecs_named_container_end_to_end() -> None:
    require_root()
    task = new_task_id()
    host_x = Path("/tmp/x")
    host_before = host_x.read_bytes() if host_x.exists() else None
    with run_container(task_id=task) as c:
        assert c.cgroups_path == f"/ecs/{task}/{c.container_id}"
        cgroup = Path(f"/proc/{c.pid}/cgroup").read_text()
        memory = [line.split(":", 2)[2] for line in cgroup.splitlines() if line.split(":")[1] == "memory"]
        assert memory == [f"/ecs/{task}/{c.container_id}"]
        status = Path(f"/proc/{c.pid}/status").read_text()
        assert re.search(rf"^NSpid:\s+{c.pid}\s+1$", status, re.M)
        result = c.exec(["sh", "-c", "echo hi > /tmp/x; cat /tmp/x"], timeout=30)
        assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")
        assert (c.upper_dir / "tmp" / "x").read_text() == "hi\n"
        assert (c.rootfs / "tmp" / "x").read_text() == "hi\n"
        assert c.state()["status"] == "running"
        assert len(c.cgroup_dirs()) >= 2
        workdir = c.workdir
    assert (host_x.read_bytes() if host_x.exists() else None) == host_before
    _assert_gone(c, workdir)


def test_exec_details() -> None:
    require_root()
    with run_container(env=("PATH=/usr/bin:/bin", "BASE=1")) as c:
        r = c.exec(
            ["sh", "-c", 'echo "$BASE $EXTRA $(pwd) $(id -u)"; echo oops >&2; exit 3'], env={"EXTRA": "2"}
        )
        assert (r.returncode, r.stdout, r.stderr) == (3, "1 2 / 0\n", "oops\n")
        r = c.exec(["sh", "-c", "pwd; id -u; id -g"], cwd="/tmp", user=(65534, 65534))
        assert r.stdout.split() == ["/tmp", "65534", "65534"]
        assert c.exec(["cat"], input=b"through a file\n").stdout == "through a file\n"
        with pytest.raises(subprocess.CalledProcessError):
            c.exec(["false"], check=True)
        with pytest.raises(subprocess.TimeoutExpired):
            c.exec(["sleep", "30"], timeout=0.5)
        assert c.exec(["hostname"]).stdout.strip() == c.container_id[:12]


def test_spawn_kill_and_wait() -> None:
    require_root()
    with run_container() as c:
        pid = c.spawn(["sh", "-c", "echo started; exec sleep 300"])
        ns_pid = int(_status_field(pid, "NSpid").split()[-1])
        assert ns_pid > 1
        assert Path(f"/proc/{pid}/cgroup").read_text() == Path(f"/proc/{c.pid}/cgroup").read_text()
        c.kill("KILL")
        assert c.wait(timeout=10)
        init_out, _ = c.init_output()
        assert init_out == ""


def test_init_output_goes_to_files() -> None:
    require_root()
    with run_container(args=("sh", "-c", "echo out; echo err >&2; exec sleep 300")) as c:
        for _ in range(200):
            if c.init_output() == ("out\n", "err\n"):
                break
            subprocess.run(["sleep", "0.01"], check=True)
        assert c.init_output() == ("out\n", "err\n")


def test_shared_pid_namespace_and_capabilities() -> None:
    require_root()
    task = new_task_id()
    with (
        run_container(task_id=task, args=("sleep", "1000001")) as app,
        run_container(
            task_id=task, pidns_path=app.pidns_path, capabilities=["CAP_SYS_PTRACE", "CAP_KILL"]
        ) as side,
    ):
        assert os.stat(f"/proc/{side.pid}/ns/pid").st_ino == os.stat(f"/proc/{app.pid}/ns/pid").st_ino
        r = side.exec(["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"])
        assert r.stdout.strip() == "sleep 1000001"
        assert _cap_eff(side.pid) & (1 << _CAP_SYS_PTRACE)
        assert not _cap_eff(app.pid) & (1 << _CAP_SYS_PTRACE)
        assert Path(f"/sys/fs/cgroup/memory/ecs/{task}").is_dir()
    assert not Path(f"/sys/fs/cgroup/memory/ecs/{task}").exists()


def test_files_land_in_upper_and_never_follow_host_symlinks() -> None:
    require_root()
    marker = f"rtg-test-{os.getpid()}.txt"
    files = {"/etc/resolv.conf": "nameserver 10.213.9.1\n", f"/var/run/{marker}": b"inside\n"}
    with run_container(files=files) as c:
        assert c.exec(["cat", "/etc/resolv.conf"]).stdout == "nameserver 10.213.9.1\n"
        assert (c.upper_dir / "etc" / "resolv.conf").is_file()
        assert (c.upper_dir / "run" / marker).read_bytes() == b"inside\n"
        assert not Path(f"/run/{marker}").exists()
    with pytest.raises(ValueError), run_container(files={"/etc/../x": "y"}):
        pass


def test_start_failure_cleans_up(tmp_path: Path) -> None:
    require_root()
    c = RuncContainer(args=("/nonexistent-binary",), workdir=str(tmp_path))
    with pytest.raises(RuncError, match="runc run"):
        c.start()
    assert list(tmp_path.iterdir()) == []
    assert _mounts_under(tmp_path) == []
    assert _cgroup_leftovers(c.cgroups_path) == []
    c.close()  # idempotent


def test_cleanup_runs_when_the_body_fails() -> None:
    require_root()
    with pytest.raises(ZeroDivisionError), run_container() as c:
        workdir = c.workdir
        _ = 1 / 0
    _assert_gone(c, workdir)


def test_cleanup_stale_removes_containers_of_dead_runs() -> None:
    require_root()
    dead = subprocess.Popen(["true"])
    dead.wait()
    c = RuncContainer(name=f"rtg-{dead.pid}-stale-{os.urandom(2).hex()}").start()
    workdir = c.workdir
    try:
        mine = RuncContainer().start()
        try:
            removed = cleanup_stale()
            assert c.name in removed
            assert mine.name not in removed
            assert mine.state()["status"] == "running"
        finally:
            mine.close()
        _assert_gone(c, workdir)
    finally:
        c.close()  # nothing left to do, must not fail
