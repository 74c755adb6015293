"""The process table turns runtime-event records into events of the acting process."""

from __future__ import annotations

from tests.agent.sensors.test_sensor_dns_parse import answer, query

from rtguard.agent.enrich.process_cache import DNS_ANSWER_TIMEOUT_NS, NO_LOOKUPS, Lookups, ProcessTable
from rtguard.agent.sensors.records import (
    DnsRecord,
    ExecRecord,
    FileRecord,
    ForkRecord,
    NetRecord,
    ProcOpRecord,
)
from rtguard.model.events import (
    Container,
    CredPayload,
    DnsPayload,
    EventKind,
    FilePayload,
    Host,
    NetPayload,
    TargetPayload,
)

HOST = Host(hostname="h", boot_id="b")
CG = "/ecs/task/" + "c" * 64


def _table() -> ProcessTable:
    lookups = Lookups(
        live=NO_LOOKUPS.live,
        container=lambda cg, _pid: Container(id=cg.rsplit("/", 1)[-1]) if cg.startswith("/ecs/") else None,
        sha256=NO_LOOKUPS.sha256,
        user_name=NO_LOOKUPS.user_name,
    )
    t = ProcessTable(HOST, lookups)
    t.events(ExecRecord(pid=100, ppid=1, ns_pid=1, pidns=7, ktime=1, filename="/bin/sh", cgroup_path=CG,
                        exe_path="/bin/sh", cwd="/", env_seen=True, stdio_sockets=(False, False, False)))  # fmt: skip
    return t


def test_connect_event_carries_process_and_container() -> None:
    t = _table()
    (ev,) = t.events(
        NetRecord(pid=100, kind="connect", protocol=6, remote_ip="203.0.113.9", remote_port=4444)
    )
    assert ev.kind is EventKind.NET_CONNECT and ev.process.exe_path == "/bin/sh"
    assert ev.container is not None and ev.container.id == "c" * 64
    assert isinstance(ev.payload, NetPayload) and ev.payload.direction == "OUTBOUND"


def test_unknown_pid_is_adopted_or_counted() -> None:
    t = _table()
    assert t.events(FileRecord(pid=4242, kind="write", path="/etc/x")) == []
    assert t.unattributed == 1


def test_dns_query_waits_for_its_answer() -> None:
    t = _table()
    assert t.events(DnsRecord(pid=100, ktime=10, outgoing=True, message=query("a.test", txid=5))) == []
    (ev,) = t.events(
        DnsRecord(pid=100, ktime=20, outgoing=False, message=answer("a.test", [b"\x01\x02\x03\x04"], 5))
    )
    assert ev.kind is EventKind.DNS_QUERY and ev.process.pid == 100
    assert ev.payload == DnsPayload(
        name="a.test", qtype="A", answers=("1.2.3.4",), rcode="NOERROR", protocol="UDP"
    )


def test_unanswered_dns_query_leaves_after_the_timeout() -> None:
    t = _table()
    t.events(DnsRecord(pid=100, ktime=10, outgoing=True, message=query("lost.test")))
    assert t.flush_dns(10 + DNS_ANSWER_TIMEOUT_NS - 1) == []
    (ev,) = t.flush_dns(10 + DNS_ANSWER_TIMEOUT_NS)
    assert isinstance(ev.payload, DnsPayload) and ev.payload.answers == () and ev.payload.rcode == ""


def test_ptrace_target_is_resolved_in_the_actor_pid_namespace() -> None:
    t = _table()
    t.events(ForkRecord(parent_pid=100, child_pid=101, child_ns_pid=2, child_start_boottime=5))
    (ev,) = t.events(ProcOpRecord(pid=100, kind="ptrace", arg0=16, target_pid=2))
    assert isinstance(ev.payload, TargetPayload) and ev.payload.target is not None
    assert ev.payload.target.pid == 101


def test_setuid_exec_and_setuid_call_are_cred_changes() -> None:
    t = _table()
    t.events(ProcOpRecord(pid=100, kind="cred", syscall="setuid", new_uid=1000, new_euid=1000))
    assert t.get(100) is not None and t.get(100).euid == 1000  # type: ignore[union-attr]
    evs = t.events(
        ExecRecord(pid=100, ppid=1, ktime=5, uid=1000, euid=0, filename="/tmp/suid", cgroup_path=CG)
    )
    assert [e.kind for e in evs] == [EventKind.PROCESS_EXEC, EventKind.CRED_CHANGE]
    assert evs[1].payload == CredPayload(
        syscall="execve", old_uid=1000, old_euid=1000, new_uid=1000, new_euid=0
    )


def test_symlink_payload_names_the_link_and_its_target() -> None:
    t = _table()
    (ev,) = t.events(FileRecord(pid=100, kind="symlink", path="/etc/shadow", path2="/tmp/s"))
    assert ev.payload == FilePayload(path="/tmp/s", target_path="/etc/shadow")


def test_exec_flags_from_the_kernel_record() -> None:
    t = _table()
    (ev,) = t.events(ExecRecord(pid=100, ppid=1, ktime=9, filename="/tmp/x", exe_path="/tmp/x", cwd="/tmp",
                                env_seen=True, ld_preload="/a.so", stdio_sockets=(True, True, True),
                                exe_on_upper=True, cgroup_path=CG))  # fmt: skip
    p = ev.process
    assert (p.cwd, p.ld_preload, p.stdio_sockets, p.exe_written_after_start) == (
        "/tmp",
        "/a.so",
        (True,) * 3,
        True,
    )
    (host,) = t.events(
        ExecRecord(pid=300, ppid=1, ktime=9, filename="/x", exe_on_upper=True, cgroup_path="/")
    )
    assert not host.process.exe_written_after_start, "only inside a container"
