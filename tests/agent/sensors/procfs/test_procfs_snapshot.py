"""The procfs snapshot and live reads: a fake /proc tree, the real /proc, and a real container."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtguard.agent.enrich.container import parse_cgroup_path
from rtguard.agent.sensors.procfs import snapshot as snapshot_module
from rtguard.agent.sensors.procfs.parse import parse_stat, start_boottime_ns
from rtguard.agent.sensors.procfs.snapshot import PasswdCache, SnapshotStats, read_live, snapshot
from rtguard.testing.privilege import require_root

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_TAIL = (
    "S {ppid} {pid} {ppid} 0 -1 {flags} 0 0 0 0 1 1 0 0 20 0 1 0 {start} 1 1 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0"
)


def _fake_pid(
    root: Path,
    pid: int,
    *,
    comm: str,
    ppid: int,
    start: int,
    flags: int = 4194304,
    uid: int = 0,
    argv: tuple[str, ...] = (),
    exe: Path | None = None,
    cgroup: str = "0::/\n",
    environ: bytes = b"",
    with_status: bool = True,
) -> Path:
    d = root / str(pid)
    d.mkdir()
    (d / "stat").write_text(f"{pid} ({comm}) " + _TAIL.format(ppid=ppid, pid=pid, flags=flags, start=start))
    if with_status:
        (d / "status").write_text(
            f"Name:\t{comm}\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t{ppid}\n"
            f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{uid}\t{uid}\t{uid}\t{uid}\nNSpid:\t{pid}\t3\n"
        )
    (d / "cgroup").write_text(cgroup)
    (d / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    (d / "environ").write_bytes(environ)
    (d / "ns").mkdir()
    os.symlink("mnt:[4026531841]", d / "ns" / "mnt")
    os.symlink("pid:[4026531836]", d / "ns" / "pid")
    os.symlink(str(root), d / "cwd")
    if exe is not None:
        os.symlink(str(exe), d / "exe")
    return d


@pytest.fixture
def fake_proc(tmp_path: Path) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    binary = tmp_path / "bin-sh"
    binary.write_bytes(b"\x7fELF fake")
    _fake_pid(proc, 1, comm="init", ppid=0, start=1, argv=("/sbin/init",), exe=binary)
    _fake_pid(proc, 2, comm="kthreadd", ppid=0, start=1, flags=0x00200040)
    ctr = "/ecs/" + "1" * 32 + "/" + "a" * 64
    _fake_pid(
        proc,
        40,
        comm="my (evil) sh",
        ppid=1,
        start=500,
        uid=1000,
        argv=("sh", "-c", "id"),
        exe=binary,
        cgroup=f"4:memory:{ctr}\n0::/\n",
    )
    _fake_pid(proc, 41, comm="gone", ppid=40, start=600, with_status=False)
    (proc / "self").mkdir()
    (proc / "not-a-pid").mkdir()
    return proc


class TestFakeProc:
    def test_records(self, fake_proc: Path, tmp_path: Path) -> None:
        stats = SnapshotStats()
        records = {r.pid: r for r in snapshot(str(fake_proc), stats=stats, cgroup2_mount="")}
        assert sorted(records) == [1, 40]
        rec = records[40]
        binary = os.stat(tmp_path / "bin-sh")
        assert rec.from_snapshot
        assert rec.ktime == 0
        assert (rec.pid, rec.tid, rec.ppid, rec.ns_pid) == (40, 40, 1, 3)
        assert (rec.uid, rec.euid, rec.gid, rec.egid) == (1000, 1000, 1000, 1000)
        assert rec.comm == "my (evil) sh"
        assert rec.argv == ("sh", "-c", "id")
        assert rec.filename == str(tmp_path / "bin-sh")
        assert (rec.exe_dev, rec.exe_ino, rec.exe_mtime) == (binary.st_dev, binary.st_ino, binary.st_mtime_ns)
        assert rec.start_boottime == start_boottime_ns(500, _CLK_TCK)
        assert rec.parent_start_boottime == start_boottime_ns(1, _CLK_TCK)
        assert rec.cgroup_path == "/ecs/" + "1" * 32 + "/" + "a" * 64
        assert rec.cwd == str(fake_proc)
        assert (rec.mntns, rec.pidns) == (4026531841, 4026531836)
        assert records[1].parent_start_boottime == 0
        assert stats.kernel_threads == 1
        assert stats.vanished == 1  # pid 41 lost its status file
        assert stats.records == 2
        assert stats.seen == 4

    def test_kernel_threads_on_request(self, fake_proc: Path) -> None:
        pids = [r.pid for r in snapshot(str(fake_proc), include_kernel_threads=True, cgroup2_mount="")]
        assert 2 in pids

    def test_unreadable_exe_is_left_empty(self, fake_proc: Path) -> None:
        (fake_proc / "1" / "exe").unlink()
        os.symlink("/nonexistent/definitely", fake_proc / "1" / "exe")
        rec = next(r for r in snapshot(str(fake_proc), cgroup2_mount="") if r.pid == 1)
        assert (rec.filename, rec.exe_ino) == ("/nonexistent/definitely", 0)

    def test_pid_reused_during_read_is_dropped(
        self, fake_proc: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real = snapshot_module._read_stat
        calls: dict[int, int] = {}

        def reused(proc_root: str, pid: int) -> object:
            calls[pid] = calls.get(pid, 0) + 1
            st = real(proc_root, pid)
            if pid == 40 and calls[pid] > 1 and st is not None:
                (fake_proc / "40" / "stat").write_text(
                    "40 (new) " + _TAIL.format(ppid=1, pid=40, flags=0, start=999)
                )
                return real(proc_root, pid)
            return st

        monkeypatch.setattr(snapshot_module, "_read_stat", reused)
        stats = SnapshotStats()
        assert 40 not in [r.pid for r in snapshot(str(fake_proc), stats=stats, cgroup2_mount="")]
        assert stats.vanished == 2

    def test_missing_proc_root(self, tmp_path: Path) -> None:
        assert snapshot(str(tmp_path / "nope")) == []

    def test_read_live_fake(self, fake_proc: Path, tmp_path: Path) -> None:
        d = fake_proc / "40"
        (d / "environ").write_bytes(b"SECRET=x\0LD_PRELOAD=/tmp/x.so\0LD_LIBRARY_PATH=/opt\0")
        (d / "fd").mkdir()
        os.symlink("socket:[1234]", d / "fd" / "0")
        os.symlink("/dev/null", d / "fd" / "1")
        os.symlink("pipe:[99]", d / "fd" / "2")
        ctr_root = tmp_path / "ctr-root"
        (ctr_root / "etc").mkdir(parents=True)
        (ctr_root / "etc" / "passwd").write_text("root:x:0:0::/:\nappuser:x:1000:1000::/:\n")
        os.symlink(str(ctr_root), d / "root")
        info = read_live(40, str(fake_proc), host_root=str(tmp_path / "empty-host"))
        assert info is not None
        assert (info.ld_preload, info.ld_library_path) == ("/tmp/x.so", "/opt")
        assert info.stdio_sockets == (True, False, False)
        assert info.stdio_types == ("socket", "char", "pipe")  # /proc does not name a socket's family
        assert (info.uid, info.user_name) == (1000, "appuser")
        assert info.cwd == str(fake_proc)
        assert read_live(41, str(fake_proc)) is None
        assert read_live(12345, str(fake_proc)) is None

    @pytest.mark.timeout(20)
    @pytest.mark.parametrize("kind", ["fifo", "symlink", "etc-symlink"])
    def test_hostile_container_passwd_falls_back_to_host(
        self, fake_proc: Path, tmp_path: Path, kind: str
    ) -> None:
        ctr_root = tmp_path / "ctr-root"
        (tmp_path / "outside").mkdir()
        (tmp_path / "outside" / "passwd").write_text("leaked:x:1000:1000::/:\n")
        if kind == "etc-symlink":
            os.symlink(str(tmp_path / "outside"), ctr_root, target_is_directory=True)
            ctr_root = tmp_path / "ctr-root-2"
            ctr_root.mkdir()
            os.symlink(str(tmp_path / "outside"), ctr_root / "etc")
        else:
            (ctr_root / "etc").mkdir(parents=True)
            if kind == "fifo":
                os.mkfifo(ctr_root / "etc" / "passwd")
            else:
                os.symlink(str(tmp_path / "outside" / "passwd"), ctr_root / "etc" / "passwd")
        os.symlink(str(ctr_root), fake_proc / "40" / "root")
        host = tmp_path / "host"
        (host / "etc").mkdir(parents=True)
        (host / "etc" / "passwd").write_text("hostuser:x:1000:1000::/:\n")
        info = read_live(40, str(fake_proc), host_root=str(host))
        assert info is not None
        assert info.user_name == "hostuser"

    def test_passwd_cache_rereads_changed_file(self, tmp_path: Path) -> None:
        path = tmp_path / "passwd"
        path.write_text("a:x:1:1::/:\n")
        cache = PasswdCache(max_files=1)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert cache.table(fd) == {1: "a"}
        finally:
            os.close(fd)
        path.write_text("bb:x:1:1::/:\n")
        fd = os.open(path, os.O_RDONLY)
        try:
            assert cache.table(fd) == {1: "bb"}
        finally:
            os.close(fd)


@pytest.fixture
def child(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real child process with a socket on stdin, known cwd, argv and loader variables."""
    ours, theirs = socket.socketpair()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LD_LIBRARY_PATH": "/opt/rtg-test", "TOKEN": "x"}
    proc = subprocess.Popen(
        ["sleep", "300", "7"],
        stdin=theirs.fileno(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=env,
    )
    theirs.close()
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()
        ours.close()


class TestRealProc:
    def test_snapshot_sees_child(self, child: subprocess.Popen[bytes], tmp_path: Path) -> None:
        stats = SnapshotStats()
        records = {r.pid: r for r in snapshot(stats=stats)}
        rec = records[child.pid]
        sleep_path = os.path.realpath(shutil.which("sleep") or "/bin/sleep")
        own = parse_stat(Path(f"/proc/{os.getpid()}/stat").read_bytes())
        theirs = parse_stat(Path(f"/proc/{child.pid}/stat").read_bytes())
        assert rec.ppid == os.getpid()
        assert rec.argv == ("sleep", "300", "7")
        assert rec.comm == "sleep"
        assert rec.filename == sleep_path
        assert rec.exe_ino == os.stat(sleep_path).st_ino
        assert rec.cwd == str(tmp_path)
        assert rec.start_boottime == start_boottime_ns(theirs.starttime, _CLK_TCK)
        assert rec.parent_start_boottime == start_boottime_ns(own.starttime, _CLK_TCK)
        assert rec.cgroup_path == records[os.getpid()].cgroup_path
        assert rec.mntns == os.stat("/proc/self/ns/mnt").st_ino
        assert rec.ns_pid == child.pid
        assert all(r.from_snapshot for r in records.values())
        assert stats.records == len(records)

    def test_pid_1_is_listed_even_when_exe_is_unreadable(self) -> None:
        records = {r.pid: r for r in snapshot()}
        assert 1 in records
        if not os.access("/proc/1/exe", os.R_OK) and os.geteuid() == 0:
            assert records[1].filename == ""

    def test_read_live_child(self, child: subprocess.Popen[bytes], tmp_path: Path) -> None:
        info = read_live(child.pid)
        assert info is not None
        assert info.ld_library_path == "/opt/rtg-test"
        assert info.ld_preload == ""
        assert info.stdio_sockets == (True, False, False)
        assert info.cwd == str(tmp_path)
        assert info.uid == os.getuid()
        assert info.user_name == ("root" if os.getuid() == 0 else info.user_name)
        assert not info.exe_deleted

    def test_read_live_gone(self) -> None:
        proc = subprocess.Popen(["true"])
        proc.wait()
        assert read_live(proc.pid) is None

    def test_deleted_and_memfd_executables(self, tmp_path: Path) -> None:
        copy = tmp_path / "sleep-copy"
        shutil.copy2(shutil.which("sleep") or "/bin/sleep", copy)
        deleted = subprocess.Popen([str(copy), "300"])
        script = (
            "import os,shutil;fd=os.memfd_create('payload');"
            "os.write(fd,open(shutil.which('sleep'),'rb').read());"
            "os.execv(f'/proc/self/fd/{fd}',['payload','300'])"
        )
        memfd = subprocess.Popen([sys.executable, "-c", script])
        try:
            copy.unlink()
            info = _wait_for(lambda: read_live(deleted.pid))
            assert info.exe_deleted
            assert info.exe_path == str(copy)
            mem = _wait_for(lambda: _if_memfd(read_live(memfd.pid)))
            assert mem.exe_from_memfd
            assert mem.exe_path == "/memfd:payload"
            rec = next(r for r in snapshot() if r.pid == deleted.pid)
            assert rec.filename == str(copy)
        finally:
            for p in (deleted, memfd):
                p.kill()
                p.wait()


def _if_memfd(info: snapshot_module.LiveInfo | None) -> snapshot_module.LiveInfo | None:
    return info if info is not None and info.exe_path.startswith("/memfd:") else None


def _wait_for(get: object) -> snapshot_module.LiveInfo:
    assert callable(get)
    done = threading.Event()
    for _ in range(200):
        value = get()
        if value is not None:
            assert isinstance(value, snapshot_module.LiveInfo)
            return value
        done.wait(0.01)
    raise AssertionError("condition not reached in 2 s")


@pytest.mark.privileged
def test_container_process_in_snapshot_and_live() -> None:
    require_root()
    from rtguard.testing.containers import new_task_id, run_container

    task = new_task_id()
    passwd = "ctr-root:x:0:0::/root:/bin/sh\n"
    with run_container(task_id=task, files={"/etc/passwd": passwd}) as c:
        rec = next(r for r in snapshot() if r.pid == c.pid)
        assert rec.ns_pid == 1
        assert rec.pidns != os.stat("/proc/self/ns/pid").st_ino
        ref = parse_cgroup_path(rec.cgroup_path)
        assert ref is not None
        assert (ref.runtime, ref.ecs_task_id, ref.container_id) == ("ecs", task, c.container_id)
        assert rec.cgroup_id == os.stat(f"/sys/fs/cgroup/unified{c.cgroups_path}").st_ino
        info = read_live(c.pid)
        assert info is not None
        assert info.user_name == "ctr-root"
        assert info.exe_path.endswith("/sleep")
