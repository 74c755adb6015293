"""The process table: exec ids, lineage, fork inheritance, snapshots and bounds."""

from __future__ import annotations

from rtguard.agent.enrich.process_cache import LiveDetails, Lookups, ProcessTable, make_exec_id
from rtguard.agent.sensors.records import ExecRecord, ExitRecord, ForkRecord
from rtguard.model.events import Container, EcsTask, EventKind, ExitPayload, Host

HOST = Host(hostname="h", boot_id="boot")


def _exec(pid: int, ppid: int, filename: str, ktime: int = 1000, **kw: object) -> ExecRecord:
    return ExecRecord(pid=pid, ppid=ppid, filename=filename, ktime=ktime, start_boottime=pid * 10**9,
                      argv=(filename.rsplit("/", 1)[-1], "arg"), **kw)  # type: ignore[arg-type]  # fmt: skip


def test_exec_id_is_stable_and_distinct() -> None:
    a = make_exec_id("b", 10, 5 * 10**9, 100)
    assert a == make_exec_id("b", 10, 5 * 10**9, 100)
    assert a != make_exec_id("b", 10, 6 * 10**9, 100)  # pid reuse: another start time
    assert a != make_exec_id("b", 10, 5 * 10**9, 200)  # a second exec of the same process


def test_lineage_from_snapshot_and_execs() -> None:
    table = ProcessTable(HOST)
    table.load_snapshot([
        ExecRecord(pid=1, filename="/sbin/init", start_boottime=1, from_snapshot=True),
        ExecRecord(pid=50, ppid=1, filename="/usr/sbin/sshd", start_boottime=2, from_snapshot=True),
    ])  # fmt: skip
    ev1 = table.on_record(_exec(60, 50, "/bin/bash"))
    ev2 = table.on_record(_exec(70, 60, "/usr/bin/xmrig", ktime=2000))
    assert ev1 is not None and ev2 is not None
    assert ev2.kind is EventKind.PROCESS_EXEC
    assert [e.name for e in ev2.lineage] == ["bash", "sshd", "init"]
    assert ev2.process.parent_exec_id == ev1.process.exec_id
    assert ev2.lineage[0].exec_id == ev1.process.exec_id
    assert ev2.process.name == "xmrig" and ev2.process.argv == ("xmrig", "arg")


def test_fork_inherits_then_exec_replaces_and_exit_evicts() -> None:
    c = Container(id="a" * 64, ecs=EcsTask(cluster_arn="arn:aws:ecs:us-east-1:1:cluster/c", task_arn="arn:t"))
    calls: list[str] = []

    def container(cg: str, _pid: int) -> Container | None:
        calls.append(cg)
        return c

    lookups = Lookups(
        live=lambda pid: LiveDetails(cwd="/work", ld_preload="/x.so") if pid == 11 else None,
        container=container,
        sha256=lambda _pid, path, _rec: "h:" + path,
        user_name=lambda uid: "root" if uid == 0 else "",
    )
    table = ProcessTable(HOST, lookups)
    table.on_record(_exec(10, 1, "/bin/sh", cgroup_path="/ecs/t/" + "a" * 64))
    assert table.on_record(ForkRecord(parent_pid=10, child_pid=11, child_start_boottime=11 * 10**9)) is None
    forked = table.get(11)
    assert forked is not None and forked.name == "sh" and forked.parent_exec_id == table.get(10).exec_id  # type: ignore[union-attr]
    ev = table.on_record(_exec(11, 10, "./miner", cgroup_path="/ecs/t/" + "a" * 64))
    assert ev is not None
    assert ev.process.exe_path == "/work/miner"  # relative filename resolved against cwd
    assert ev.process.ld_preload == "/x.so" and ev.process.user_name == "root"
    assert ev.process.exe_sha256 == "h:/work/miner"
    assert ev.container == c
    assert calls == ["/ecs/t/" + "a" * 64]  # the child reused the parent's resolution
    ex = table.on_record(ExitRecord(pid=11, exit_code=256))
    assert ex is not None and ex.kind is EventKind.PROCESS_EXIT and ex.payload == ExitPayload(exit_code=256)
    assert table.get(11) is None
    assert table.on_record(ExitRecord(pid=999)) is None and table.exits_unknown == 1


def test_table_is_bounded() -> None:
    table = ProcessTable(HOST, max_entries=100)
    for pid in range(2, 302):
        table.on_record(_exec(pid, 1, "/bin/true"))
    assert len(table) == 100 and table.evicted == 200


def test_lineage_stops_on_cycles() -> None:
    table = ProcessTable(HOST)
    table.on_record(_exec(5, 6, "/bin/a"))
    table.on_record(_exec(6, 5, "/bin/b"))
    ev = table.on_record(_exec(7, 6, "/bin/c"))
    assert ev is not None and len(ev.lineage) == 2


def test_children_retry_a_container_still_missing_its_ecs_task() -> None:
    """A container first seen while the ECS task list could not be refreshed gets its task later."""
    task = EcsTask(cluster_arn="arn:aws:ecs:us-east-1:1:cluster/c", task_arn="arn:t")
    answers = [Container(id="a" * 64), Container(id="a" * 64, ecs=task)]

    def container(_cg: str, _pid: int) -> Container | None:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    table = ProcessTable(
        HOST, Lookups(live=lambda _p: None, container=container, sha256=lambda *_: "", user_name=str)
    )
    cg = "/ecs/t/" + "a" * 64
    first = table.on_record(_exec(10, 1, "/bin/sh", cgroup_path=cg))
    table.on_record(ForkRecord(parent_pid=10, child_pid=11, child_start_boottime=11 * 10**9))
    child = table.on_record(_exec(11, 10, "/usr/bin/xmrig", cgroup_path=cg))
    assert first is not None and first.container is not None and first.container.ecs is None
    assert child is not None and child.container is not None and child.container.ecs == task


def test_lineage_reuses_the_parents_and_stops_at_pid_reuse_cycles() -> None:
    table = ProcessTable(HOST, exit_events=False)
    table.load_snapshot([ExecRecord(pid=1, filename="/sbin/init", start_boottime=1, from_snapshot=True)])
    chain = [table.on_record(_exec(pid, pid - 1 if pid > 2 else 1, f"/bin/p{pid}")) for pid in range(2, 14)]
    last = chain[-1]
    assert last is not None and len(last.lineage) == 8  # MAX_LINEAGE
    assert [e.pid for e in last.lineage] == list(range(12, 4, -1))
    # exits make no events when the table is told so, but still leave the table
    assert table.events(ExitRecord(pid=13, exit_code=0)) == [] and table.get(13) is None
