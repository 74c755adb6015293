"""Pure parts of the sidecar sensor: wait-status decoding, socket tables, fast /proc extractors."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rtguard.agent.sensors.procfs.parse import cgroup_path, parse_cgroup, parse_environ, parse_status
from rtguard.agent.sensors.ptrace import libc
from rtguard.agent.sensors.ptrace.netpoll import Sock, classify, parse_table
from rtguard.agent.sensors.ptrace.procread import fast_cgroup_path, fast_loader_env, fast_status


def test_decode_status_tells_exits_events_group_stops_and_signals_apart() -> None:
    exited = libc.decode_status(3 << 8)
    assert exited.exited and not exited.stopped
    killed = libc.decode_status(signal.SIGKILL)
    assert killed.exited
    fork = libc.decode_status((libc.EVENT_FORK << 16) | (signal.SIGTRAP << 8) | 0x7F)
    assert fork.stopped and fork.event == libc.EVENT_FORK and fork.sig == signal.SIGTRAP
    group = libc.decode_status((libc.EVENT_STOP << 16) | (signal.SIGTSTP << 8) | 0x7F)
    assert group.event == libc.EVENT_STOP and group.sig in libc.GROUP_STOP_SIGNALS
    delivery = libc.decode_status((signal.SIGUSR1 << 8) | 0x7F)
    assert delivery.stopped and delivery.event == 0 and delivery.sig == signal.SIGUSR1


def test_seize_options_never_kill_the_workload_with_the_agent() -> None:
    exitkill = 0x100000
    assert not libc.SEIZE_OPTIONS & exitkill
    assert libc.SEIZE_OPTIONS & 0x02 and libc.SEIZE_OPTIONS & 0x04 and libc.SEIZE_OPTIONS & 0x08
    assert libc.SEIZE_OPTIONS & 0x10


TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0
   1: 0200A8C0:C350 0101A8C0:0D3D 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0
   3: garbage
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000200007F:9C40 02 00000000:00000000 00:00000000 00000000     0        0 4444 1 0
   1: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0
"""


def test_parse_table_decodes_ipv4_ipv6_and_mapped_addresses() -> None:
    socks = parse_table(TCP, 6, 2)
    assert [s.inode for s in socks] == [1111, 2222, 3333]
    assert (socks[0].local_ip, socks[0].local_port, socks[0].state) == ("127.0.0.1", 8080, 0x0A)
    assert (socks[1].local_ip, socks[1].remote_ip, socks[1].remote_port) == (
        "192.168.0.2",
        "192.168.1.1",
        3389,
    )
    six = parse_table(TCP6, 6, 10)
    assert (six[0].local_ip, six[0].remote_ip, six[0].remote_port) == ("127.0.0.1", "127.0.0.2", 40000)
    assert six[1].local_ip == "::1" and six[1].local_port == 53


def test_classify_connect_accept_listen_bind() -> None:
    socks = parse_table(TCP, 6, 2)
    listening = {8080}
    assert [classify(s, listening) for s in socks] == ["listen", "connect", "accept"]
    udp_connected = Sock(17, 2, "10.0.0.2", 5000, "10.0.0.1", 53, 1, 9)
    udp_bound = Sock(17, 2, "0.0.0.0", 68, "0.0.0.0", 0, 7, 10)
    udp_unbound = Sock(17, 2, "0.0.0.0", 0, "0.0.0.0", 0, 7, 11)
    assert [classify(s, set()) for s in (udp_connected, udp_bound, udp_unbound)] == ["connect", "bind", ""]


@pytest.mark.parametrize("pid", ["self", "1"])
def test_fast_status_agrees_with_the_full_parser(pid: str) -> None:
    try:
        data = Path(f"/proc/{pid}/status").read_bytes()
    except OSError:
        pytest.skip("status not readable")
    fast, full = fast_status(data), parse_status(data)
    for field in ("name", "tgid", "pid", "ppid", "uid", "euid", "gid", "egid", "ns_pids"):
        assert getattr(fast, field) == getattr(full, field), field


def test_fast_status_falls_back_on_escaped_names() -> None:
    data = b"Name:\ta\\nb\nTgid:\t5\nPid:\t5\nPPid:\t1\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\n"
    assert fast_status(data).name == "a\nb"
    assert (fast_status(data).euid, fast_status(data).egid) == (2, 6)


def test_fast_cgroup_and_loader_env_agree_with_the_full_parsers() -> None:
    v1 = b"12:pids:/ecs/t/c\n5:memory:/ecs/t/abc\n0::/\n"
    v2 = b"0::/system.slice/x.scope\n"
    for data in (v1, v2):
        assert fast_cgroup_path(data) == cgroup_path(parse_cgroup(data))
    env = b"A=1\0LD_PRELOAD=/tmp/x.so\0LD_LIBRARY_PATH=/opt\0"
    assert (
        fast_loader_env(env) == parse_environ(env) == {"LD_PRELOAD": "/tmp/x.so", "LD_LIBRARY_PATH": "/opt"}
    )
    assert fast_loader_env(b"PATH=/bin\0HOME=/\0") == {}
    assert fast_loader_env(Path(f"/proc/{os.getpid()}/environ").read_bytes()) == parse_environ(
        Path(f"/proc/{os.getpid()}/environ").read_bytes()
    )
