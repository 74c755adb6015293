"""Golden and property tests of the pure /proc parsers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtguard.agent.sensors.procfs.parse import (
    PF_KTHREAD,
    ProcParseError,
    cgroup_path,
    parse_cgroup,
    parse_cmdline,
    parse_environ,
    parse_mountinfo,
    parse_ns_link,
    parse_passwd,
    parse_stat,
    parse_status,
    start_boottime_ns,
)

# Field 3 onwards of a real stat line from our machines (a bash process), after "(comm)".
_STAT_TAIL = (
    b"S 5533 5536 5533 0 -1 4194304 1234 0 0 0 11 7 0 0 20 0 1 0 50723 "
    b"10000384 1000 18446744073709551615 1 1 0 0 0 0 65536 4 65536 0 0 0 17 1 0 0 0 0 0"
)


def _stat(pid: int, comm: bytes, tail: bytes = _STAT_TAIL) -> bytes:
    return str(pid).encode() + b" (" + comm + b") " + tail + b"\n"


class TestStat:
    def test_plain(self) -> None:
        st_ = parse_stat(_stat(5536, b"bash"))
        assert (st_.pid, st_.comm, st_.state, st_.ppid) == (5536, "bash", "S", 5533)
        assert (st_.pgrp, st_.session, st_.tty_nr, st_.flags) == (5536, 5533, 0, 4194304)
        assert (st_.utime, st_.stime, st_.num_threads, st_.starttime) == (11, 7, 1, 50723)
        assert not st_.is_kernel_thread

    @pytest.mark.parametrize(
        "comm",
        [b"a b", b"(sd-pam)", b"a) b (c", b"x)", b")", b"((", b"evil) S 1 1 1", b"tab\tnl\n", b""],
    )
    def test_hostile_comm_uses_last_parenthesis(self, comm: bytes) -> None:
        st_ = parse_stat(_stat(42, comm))
        assert st_.comm == comm.decode()
        assert st_.ppid == 5533
        assert st_.starttime == 50723

    def test_undecodable_comm_is_escaped_not_lost(self) -> None:
        st_ = parse_stat(_stat(7, b"\xff\xfeok"))
        assert st_.comm == "\\xff\\xfeok"

    def test_str_input(self) -> None:
        assert parse_stat(_stat(9, b"sh").decode()).comm == "sh"

    def test_kernel_thread_flag(self) -> None:
        tail = _STAT_TAIL.replace(b" 4194304 ", f" {PF_KTHREAD | 0x40} ".encode(), 1)
        assert parse_stat(_stat(2, b"kthreadd", tail)).is_kernel_thread

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"garbage",
            b"12 (x",
            b"(x) S 1 2 3",
            b"12 (x) S 1 2 3",
            b"abc (x) " + _STAT_TAIL,
            _stat(1, b"x", _STAT_TAIL.replace(b"50723", b"nope")),
        ],
    )
    def test_malformed(self, data: bytes) -> None:
        with pytest.raises(ProcParseError):
            parse_stat(data)

    @given(st.binary(max_size=400))
    def test_arbitrary_bytes_only_raise_parse_error(self, data: bytes) -> None:
        with contextlib.suppress(ProcParseError):
            parse_stat(data)

    @given(
        comm=st.binary(max_size=64).filter(lambda b: b"\0" not in b),
        pid=st.integers(min_value=1, max_value=2**22),
        starttime=st.integers(min_value=0, max_value=2**63),
    )
    def test_roundtrip_any_comm(self, comm: bytes, pid: int, starttime: int) -> None:
        tail = _STAT_TAIL.replace(b"50723", str(starttime).encode(), 1)
        st_ = parse_stat(_stat(pid, comm, tail))
        assert st_.pid == pid
        assert st_.starttime == starttime
        assert st_.comm == comm.decode("utf-8", "backslashreplace")


def test_start_boottime_ns() -> None:
    assert start_boottime_ns(50723, 100) == 507_230_000_000
    assert start_boottime_ns(0, 100) == 0
    assert start_boottime_ns(3, 1000) == 3_000_000
    with pytest.raises(ProcParseError):
        start_boottime_ns(1, 0)


_STATUS = """Name:\tsleep
Umask:\t0022
State:\tS (sleeping)
Tgid:\t7271
Ngid:\t0
Pid:\t7271
PPid:\t7250
TracerPid:\t0
Uid:\t1000\t1001\t1002\t1003
Gid:\t2000\t2001\t2002\t2003
FDSize:\t64
Groups:\t
NStgid:\t7271\t1
NSpid:\t7271\t1
NSpgid:\t7271\t1
NSsid:\t7271\t1
CapInh:\t0000000000000000
CapPrm:\t0000000020000420
CapEff:\t0000000020000420
CapBnd:\t0000000020000420
NoNewPrivs:\t1
"""


class TestStatus:
    def test_container_process(self) -> None:
        s = parse_status(_STATUS)
        assert (s.name, s.tgid, s.pid, s.ppid) == ("sleep", 7271, 7271, 7250)
        assert (s.uid, s.euid, s.suid, s.fsuid) == (1000, 1001, 1002, 1003)
        assert (s.gid, s.egid) == (2000, 2001)
        assert s.ns_pids == (7271, 1)
        assert s.ns_pid == 1
        assert s.cap_eff == 0x20000420
        assert s.no_new_privs

    def test_bytes_and_nested_namespaces(self) -> None:
        s = parse_status(_STATUS.replace("NSpid:\t7271\t1", "NSpid:\t7271\t40\t3").encode())
        assert s.ns_pids == (7271, 40, 3)
        assert s.ns_pid == 3

    def test_no_nspid_line_means_host_pid(self) -> None:
        s = parse_status("\n".join(line for line in _STATUS.splitlines() if not line.startswith("NSpid")))
        assert s.ns_pid == 7271

    def test_escaped_name(self) -> None:
        s = parse_status(_STATUS.replace("Name:\tsleep", "Name:\tev\\nil\\\\x"))
        assert s.name == "ev\nil\\x"

    def test_first_line_wins_against_injected_duplicates(self) -> None:
        # The Name line comes first and is escaped by the kernel, so it cannot inject lines;
        # even so, a later duplicate key must not override the real one.
        s = parse_status(_STATUS + "Uid:\t0\t0\t0\t0\n")
        assert s.uid == 1000

    @pytest.mark.parametrize(
        "mutate",
        [
            lambda t: t.replace("Pid:\t7271\n", ""),
            lambda t: t.replace("PPid:\t7250\n", ""),
            lambda t: t.replace("Uid:\t1000\t1001\t1002\t1003", "Uid:\t1000"),
            lambda t: t.replace("Gid:\t2000", "Gid:\tx"),
            lambda t: t.replace("CapEff:\t0000000020000420", "CapEff:\tzz"),
            lambda t: "",
        ],
    )
    def test_malformed(self, mutate: object) -> None:
        assert callable(mutate)
        with pytest.raises(ProcParseError):
            parse_status(mutate(_STATUS))

    @given(st.text(max_size=300))
    def test_arbitrary_text_only_raises_parse_error(self, text: str) -> None:
        with contextlib.suppress(ProcParseError):
            parse_status(text)


_CGROUP_V1_HYBRID = """9:name=systemd:/ecs/0123456789abcdef0123456789abcdef/%s
8:pids:/ecs/0123456789abcdef0123456789abcdef/%s
4:memory:/ecs/0123456789abcdef0123456789abcdef/%s
2:cpu,cpuacct:/ecs/0123456789abcdef0123456789abcdef/%s
0::/
""" % (("a" * 64,) * 4)


class TestCgroup:
    def test_v1_hybrid_prefers_memory(self) -> None:
        groups = parse_cgroup(_CGROUP_V1_HYBRID)
        memory = "/ecs/0123456789abcdef0123456789abcdef/" + "a" * 64
        assert groups["memory"] == memory
        assert groups["cpu"] == groups["cpuacct"] == memory
        assert groups["name=systemd"] == memory
        assert groups[""] == "/"
        assert cgroup_path(groups) == memory

    def test_v2_only(self) -> None:
        groups = parse_cgroup(b"0::/system.slice/docker-" + b"b" * 64 + b".scope\n")
        assert cgroup_path(groups) == "/system.slice/docker-" + "b" * 64 + ".scope"

    def test_supervisor_shell(self) -> None:
        groups = parse_cgroup("4:memory:/process_api/243898753958946a3aaf71781055aafc\n0::/\n")
        assert cgroup_path(groups) == "/process_api/243898753958946a3aaf71781055aafc"

    def test_path_with_colons_survives(self) -> None:
        assert parse_cgroup("4:memory:/a:b:c\n")["memory"] == "/a:b:c"

    def test_malformed_lines_are_skipped_not_fatal(self) -> None:
        text = "junk\n:memory:/x\nA:memory:/y\n4:memory:relative\n\n7:pids:/ok\n"
        assert parse_cgroup(text) == {"pids": "/ok"}
        assert cgroup_path(parse_cgroup(text)) == ""

    def test_empty(self) -> None:
        assert parse_cgroup(b"") == {}
        assert cgroup_path({}) == ""

    @given(st.text(max_size=300))
    def test_arbitrary_never_raises(self, text: str) -> None:
        groups = parse_cgroup(text)
        assert all(path.startswith("/") for path in groups.values())


class TestEnviron:
    def test_keeps_only_loader_variables(self) -> None:
        data = (
            b"AWS_SECRET_ACCESS_KEY=s3cr3t\0LD_PRELOAD=/tmp/evil.so\0PATH=/bin\0LD_LIBRARY_PATH=/opt/lib:/x\0"
        )
        assert parse_environ(data) == {"LD_PRELOAD": "/tmp/evil.so", "LD_LIBRARY_PATH": "/opt/lib:/x"}

    def test_first_occurrence_wins_like_getenv(self) -> None:
        assert parse_environ(b"LD_PRELOAD=/a.so\0LD_PRELOAD=/b.so\0") == {"LD_PRELOAD": "/a.so"}

    def test_prefix_lookalikes_are_not_matched(self) -> None:
        assert parse_environ(b"XLD_PRELOAD=/a\0LD_PRELOADX=/b\0LD_PRELOAD\0") == {}

    def test_empty_value_and_undecodable(self) -> None:
        assert parse_environ(b"LD_PRELOAD=\0LD_LIBRARY_PATH=/\xff\0") == {
            "LD_PRELOAD": "",
            "LD_LIBRARY_PATH": "/\\xff",
        }

    @given(st.lists(st.binary(max_size=40).filter(lambda b: b"\0" not in b), max_size=20))
    def test_never_returns_other_keys(self, entries: list[bytes]) -> None:
        assert set(parse_environ(b"\0".join(entries))) <= {"LD_PRELOAD", "LD_LIBRARY_PATH"}


class TestCmdline:
    def test_trailing_nul(self) -> None:
        assert parse_cmdline(b"sh\0-c\0echo hi > /tmp/x\0") == (("sh", "-c", "echo hi > /tmp/x"), False)

    def test_empty_argument_kept(self) -> None:
        assert parse_cmdline(b"prog\0\0last\0") == (("prog", "", "last"), False)

    def test_rewritten_without_nul(self) -> None:
        assert parse_cmdline(b"nginx: worker process") == (("nginx: worker process",), False)

    def test_kernel_thread(self) -> None:
        assert parse_cmdline(b"") == ((), False)

    def test_truncation_cuts_at_argument_boundary(self) -> None:
        argv, truncated = parse_cmdline(b"a\0" + b"b" * 100 + b"\0c\0", max_bytes=50)
        assert truncated
        assert argv == ("a",)

    def test_truncation_without_boundary(self) -> None:
        argv, truncated = parse_cmdline(b"x" * 100, max_bytes=10)
        assert (argv, truncated) == (("x" * 10,), True)

    @given(st.lists(st.text(max_size=20).filter(lambda s: "\0" not in s), min_size=1, max_size=20))
    def test_roundtrip(self, argv: list[str]) -> None:
        data = b"".join(a.encode() + b"\0" for a in argv)
        assert parse_cmdline(data, max_bytes=len(data)) == (tuple(argv), False)


def test_mountinfo() -> None:
    text = (
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard\n"
        "35 22 0:31 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n"
        "40 22 0:40 / /tmp/with\\040space rw master:3 shared:9 - overlay rtg-overlay rw,lowerdir=/\n"
        "bad line\n"
    )
    mounts = parse_mountinfo(text)
    assert [m.mount_point for m in mounts] == ["/", "/sys/fs/cgroup/unified", "/tmp/with space"]
    assert mounts[0].major == 254
    assert mounts[0].fstype == "ext4"
    assert mounts[1].fstype == "cgroup2"
    assert mounts[2].source == "rtg-overlay"
    assert mounts[2].super_options == "rw,lowerdir=/"


def test_ns_link() -> None:
    assert parse_ns_link("mnt:[4026531841]") == 4026531841
    assert parse_ns_link("pid_for_children:[4026531836]") == 4026531836
    for bad in ("", "mnt:4026531841", "mnt:[x]", "/memfd:a", "mnt:[1]\n"):
        with pytest.raises(ProcParseError):
            parse_ns_link(bad)


def test_passwd() -> None:
    text = (
        "root:x:0:0:root:/root:/bin/bash\n"
        "# comment\n"
        "+nis::::::\n"
        "app:x:1000:1000::/home/app:/bin/sh\n"
        "dup:x:1000:1000::/:/bin/sh\n"
        "bad:x:notanumber:0::/:\n"
        "short:x\n"
        "\n"
    )
    assert parse_passwd(text) == {0: "root", 1000: "app"}
    assert parse_passwd(b"\xff:x:5:5::/:\n") == {5: "\\xff"}
