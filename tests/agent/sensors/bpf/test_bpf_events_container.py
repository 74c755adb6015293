"""Privileged: every event class triggered for real inside a runc container, seen by the eBPF sensor.

One container (overlay root over the host's /, its own network namespace with a veth pair and a
dnsmasq resolver on its loopback) runs small Python scripts; the real sensor's records go
through the real process table, and each test asserts the event, its fields and that it is
attributed to the container. Other processes run on this machine, so every assertion filters on
the container id.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from rtguard.agent.enrich.lookups import build_lookups
from rtguard.agent.enrich.process_cache import ProcessTable
from rtguard.agent.sensors.bpf.sensor import BpfSensor
from rtguard.model.events import (
    CredPayload,
    DnsPayload,
    Event,
    EventKind,
    FilePayload,
    LibraryPayload,
    MemfdPayload,
    ModulePayload,
    MountPayload,
    NetPayload,
    TargetPayload,
    UnixPayload,
)
from rtguard.testing.containers import RuncContainer
from rtguard.testing.netns import NetNamespace
from rtguard.testing.privilege import require_root

PY = "/usr/bin/python3"


@dataclass
class Rig:
    sensor: BpfSensor
    table: ProcessTable
    box: RuncContainer
    events: list[Event] = field(default_factory=list)

    def pump(self) -> None:
        for rec in self.sensor.poll(50):
            for ev in self.table.events(rec):
                if ev.container is not None and ev.container.id == self.box.container_id:
                    self.events.append(ev)
        for ev in self.table.flush_dns(time.clock_gettime_ns(time.CLOCK_MONOTONIC)):
            if ev.container is not None and ev.container.id == self.box.container_id:
                self.events.append(ev)

    def run(self, script: str, **kw: object) -> None:
        out = self.box.exec([PY, "-c", textwrap.dedent(script)], **kw)  # type: ignore[arg-type]
        assert out.returncode == 0, out.stderr

    def wait(self, pred: Callable[[Event], bool], timeout: float = 8.0) -> Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            for ev in self.events:
                if pred(ev):
                    return ev
        kinds = sorted({e.kind.value for e in self.events})
        raise AssertionError(f"no matching event; container events seen: {kinds}")


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    require_root()
    assert shutil.which("dnsmasq"), "dnsmasq (Debian dnsmasq-base) is needed: make sysdeps"
    sensor = BpfSensor()
    sensor.start()
    host_lookups, _ = build_lookups("", "")
    from rtguard.model.events import Host

    table = ProcessTable(Host(hostname="test", boot_id="b"), host_lookups)
    try:
        with (
            NetNamespace() as ns,
            RuncContainer(
                netns_path=ns.path,
                no_new_privileges=False,
                capabilities=(
                    "CAP_AUDIT_WRITE",
                    "CAP_KILL",
                    "CAP_NET_BIND_SERVICE",
                    "CAP_SETUID",
                    "CAP_SETGID",
                ),
            ) as box,
        ):
            r = Rig(sensor=sensor, table=table, box=box)
            box.spawn(
                [
                    "dnsmasq", "-k", "-C", "/dev/null", "--listen-address=127.0.0.1", "--bind-interfaces",
                    "--no-resolv", "--no-hosts", "--user=root", "--address=/mal.test/10.9.9.9", "--address=/nx.test/",
                ]
            )  # fmt: skip
            time.sleep(0.3)
            r.pump()
            yield r
    finally:
        sensor.close()


def _is(kind: EventKind) -> Callable[[Event], bool]:
    return lambda e: e.kind is kind


def test_exec_fields_cwd_env_stdio_and_container(rig: Rig) -> None:
    rig.run(
        """
        import os, socket, subprocess
        a, b = socket.socketpair()
        subprocess.run(["/bin/true", "rtg-stdio"], stdin=a, stdout=a, check=True)
        env = dict(os.environ, LD_PRELOAD="/nonexistent/rtg.so", LD_LIBRARY_PATH="/opt/rtg")
        subprocess.run(["/bin/true", "rtg-env"], env=env, cwd="/tmp", stderr=subprocess.DEVNULL)
        """
    )
    ev = rig.wait(lambda e: e.kind is EventKind.PROCESS_EXEC and e.process.argv[1:] == ("rtg-env",))
    assert ev.process.cwd == "/tmp"
    assert ev.process.ld_preload == "/nonexistent/rtg.so"
    assert ev.process.ld_library_path == "/opt/rtg"
    assert ev.process.exe_path in ("/bin/true", "/usr/bin/true")
    assert ev.container is not None and ev.container.id == rig.box.container_id
    assert ev.process.ns_pid != ev.process.pid
    sock = rig.wait(lambda e: e.kind is EventKind.PROCESS_EXEC and e.process.argv[1:] == ("rtg-stdio",))
    assert sock.process.stdio_sockets == (True, True, False)
    assert ev.process.stdio_sockets == (False, False, False)


def test_exec_of_binary_written_after_start_and_memfd(rig: Rig) -> None:
    rig.run(
        """
        import os, shutil, subprocess
        shutil.copy("/bin/true", "/tmp/rtg-new")
        subprocess.run(["/tmp/rtg-new", "rtg-upper"], check=True)
        subprocess.run(["/bin/true", "rtg-lower"], check=True)
        fd = os.memfd_create("rtg-payload", 0)
        os.write(fd, open("/bin/true", "rb").read())
        subprocess.run([f"/proc/self/fd/{fd}", "rtg-memfd"], pass_fds=(fd,), check=True)
        """
    )
    new = rig.wait(lambda e: e.kind is EventKind.PROCESS_EXEC and e.process.argv[1:] == ("rtg-upper",))
    assert new.process.exe_written_after_start and new.process.exe_path == "/tmp/rtg-new"
    old = rig.wait(lambda e: e.kind is EventKind.PROCESS_EXEC and e.process.argv[1:] == ("rtg-lower",))
    assert not old.process.exe_written_after_start
    mem = rig.wait(lambda e: e.kind is EventKind.PROCESS_EXEC and e.process.argv[1:] == ("rtg-memfd",))
    assert mem.process.exe_from_memfd and mem.process.exe_path.startswith("/memfd:rtg-payload")
    mc = rig.wait(
        lambda e: e.kind is EventKind.MEMFD_CREATE and e.payload == MemfdPayload(name="rtg-payload")
    )
    assert mc.process.name.startswith("python")


def test_network_connect_accept_bind_listen_v4_v6(rig: Rig) -> None:
    rig.run(
        """
        import socket
        for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            srv = socket.socket(fam); srv.bind((host, 4242)); srv.listen()
            cli = socket.socket(fam); cli.connect((host, 4242))
            conn, _ = srv.accept()
            conn.close(); cli.close(); srv.close()
        """
    )

    def net(kind: EventKind, ip: str) -> NetPayload:
        ev = rig.wait(lambda e: e.kind is kind and isinstance(e.payload, NetPayload) and ip in (
            e.payload.local_ip, e.payload.remote_ip) and 4242 in (e.payload.local_port, e.payload.remote_port))  # fmt: skip
        assert isinstance(ev.payload, NetPayload)
        return ev.payload

    for ip, family in (("127.0.0.1", 2), ("::1", 10)):
        c = net(EventKind.NET_CONNECT, ip)
        assert (c.family, c.protocol, c.remote_ip, c.remote_port, c.direction) == (
            family,
            6,
            ip,
            4242,
            "OUTBOUND",
        )
        assert c.local_port > 0
        a = net(EventKind.NET_ACCEPT, ip)
        assert (a.local_port, a.remote_port, a.direction) == (4242, c.local_port, "INBOUND")
        b = net(EventKind.NET_BIND, ip)
        assert (b.local_ip, b.local_port) == (ip, 4242)
        lst = net(EventKind.NET_LISTEN, ip)
        assert lst.local_port == 4242


def test_unix_connect_to_docker_socket_path(rig: Rig) -> None:
    rig.run(
        """
        import os, socket
        os.makedirs("/var/run", exist_ok=True)
        srv = socket.socket(socket.AF_UNIX); srv.bind("/var/run/docker.sock"); srv.listen()
        cli = socket.socket(socket.AF_UNIX); cli.connect("/var/run/docker.sock")
        """
    )
    ev = rig.wait(
        lambda e: e.kind is EventKind.UNIX_CONNECT and e.payload == UnixPayload(path="/var/run/docker.sock")
    )
    assert ev.container is not None


def test_dns_udp_and_tcp_queries_with_answers(rig: Rig) -> None:
    rig.run(
        """
        import socket, struct
        def q(name, txid):
            return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + b"".join(
                bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0" + struct.pack("!HH", 1, 1)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
        u.sendto(q("c2.mal.test", 0x1111), ("127.0.0.1", 53)); u.recvfrom(512)
        u.sendto(q("gone.nx.test", 0x2222), ("127.0.0.1", 53)); u.recvfrom(512)
        t = socket.create_connection(("127.0.0.1", 53), timeout=3)
        m = q("tcp.mal.test", 0x3333); t.sendall(struct.pack("!H", len(m)) + m)
        n = struct.unpack("!H", t.recv(2))[0]; t.recv(n)
        """
    )

    def dns(name: str) -> DnsPayload:
        ev = rig.wait(lambda e: e.kind is EventKind.DNS_QUERY and isinstance(e.payload, DnsPayload)
                      and e.payload.name == name)  # fmt: skip
        assert isinstance(ev.payload, DnsPayload) and ev.process.name.startswith("python")
        return ev.payload

    a = dns("c2.mal.test")
    assert (a.qtype, a.answers, a.rcode, a.protocol, a.server_ip) == (
        "A",
        ("10.9.9.9",),
        "NOERROR",
        "UDP",
        "127.0.0.1",
    )
    assert dns("gone.nx.test").rcode == "NXDOMAIN"
    t = dns("tcp.mal.test")
    assert (t.protocol, t.answers) == ("TCP", ("10.9.9.9",))


def test_dns_answer_read_with_recvmmsg(rig: Rig) -> None:
    rig.run(
        """
        import ctypes, socket, struct
        libc = ctypes.CDLL(None, use_errno=True)
        class iovec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        class msghdr(ctypes.Structure):
            _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(iovec)),
                        ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                        ("flags", ctypes.c_int)]
        class mmsghdr(ctypes.Structure):
            _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
        q = struct.pack("!HHHHHH", 0x4444, 0x0100, 1, 0, 0, 0) + b"\\x02mm\\x03mal\\x04test\\x00" + struct.pack("!HH", 1, 1)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(q, ("127.0.0.1", 53))
        buf = ctypes.create_string_buffer(512)
        iov = iovec(ctypes.addressof(buf), 512)
        mm = mmsghdr()
        mm.hdr.iov = ctypes.pointer(iov)
        mm.hdr.iovlen = 1
        assert libc.recvmmsg(u.fileno(), ctypes.byref(mm), 1, 0, None) == 1, ctypes.get_errno()
        """
    )
    ev = rig.wait(lambda e: e.kind is EventKind.DNS_QUERY and isinstance(e.payload, DnsPayload)
                  and e.payload.name == "mm.mal.test")  # fmt: skip
    assert isinstance(ev.payload, DnsPayload)
    assert ev.payload.answers == ("10.9.9.9",), "the answer came through recvmmsg"


def test_new_mount_api_attempt_in_container(rig: Rig) -> None:
    # No CAP_SYS_ADMIN in the container: fsopen fails, and the attempt is still reported.
    rig.run(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(430, b"ext4", 0) == -1   # fsopen
        """
    )
    ev = rig.wait(lambda e: e.kind is EventKind.MOUNT and isinstance(e.payload, MountPayload)
                  and e.payload.fstype == "ext4" and e.payload.target == "")  # fmt: skip
    assert isinstance(ev.payload, MountPayload) and ev.payload.result < 0
    assert ev.process.name.startswith("python")


def test_file_changes_filtered_by_prefix(rig: Rig) -> None:
    rig.run(
        """
        import os
        open("/etc/rtg-conf", "w").write("x")
        os.rename("/etc/rtg-conf", "/etc/rtg-conf2")
        os.link("/etc/rtg-conf2", "/etc/rtg-hard")
        os.symlink("/etc/shadow", "/tmp/rtg-sym")
        os.chmod("/etc/rtg-conf2", 0o755)
        os.chmod("/etc/rtg-hard", 0o644)
        os.unlink("/etc/rtg-hard")
        os.makedirs("/mnt/rtg", exist_ok=True)
        open("/mnt/rtg/unwatched", "w").write("x")
        with open("/proc/self/mem", "wb"):
            pass
        """
    )

    def f(kind: EventKind, path: str) -> FilePayload:
        ev = rig.wait(
            lambda e: e.kind is kind and isinstance(e.payload, FilePayload) and e.payload.path == path
        )
        assert isinstance(ev.payload, FilePayload)
        return ev.payload

    assert f(EventKind.FILE_WRITE, "/etc/rtg-conf").flags & 0o100  # O_CREAT
    assert f(EventKind.FILE_RENAME, "/etc/rtg-conf").target_path == "/etc/rtg-conf2"
    assert f(EventKind.FILE_LINK, "/etc/rtg-conf2").target_path == "/etc/rtg-hard"
    assert f(EventKind.FILE_SYMLINK, "/tmp/rtg-sym").target_path == "/etc/shadow"
    assert f(EventKind.FILE_CHMOD, "/etc/rtg-conf2").mode == 0o755
    f(EventKind.FILE_UNLINK, "/etc/rtg-hard")
    mem = rig.wait(lambda e: e.kind is EventKind.FILE_WRITE and isinstance(e.payload, FilePayload)
                   and e.payload.path.startswith("/proc/") and e.payload.path.endswith("/mem"))  # fmt: skip
    assert mem.process.name.startswith("python")
    rig.pump()
    paths = {e.payload.path for e in rig.events if isinstance(e.payload, FilePayload)}
    assert "/mnt/rtg/unwatched" not in paths, "unwatched prefixes are filtered in the kernel"
    assert not any(e.kind is EventKind.FILE_CHMOD and e.payload == FilePayload(path="/etc/rtg-hard", mode=0o644)
                   for e in rig.events)  # fmt: skip


def test_ptrace_vm_write_userfaultfd_mount_and_creds(rig: Rig) -> None:
    rig.run(
        """
        import ctypes, os, signal, time
        libc = ctypes.CDLL(None, use_errno=True)
        child = os.fork()
        if child == 0:
            time.sleep(5); os._exit(0)
        libc.ptrace(16, child, 0, 0)          # PTRACE_ATTACH
        buf = ctypes.create_string_buffer(8)
        class iovec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        iov = iovec(ctypes.addressof(buf), 8)
        libc.syscall(311, child, ctypes.byref(iov), 1, ctypes.byref(iov), 1, 0)  # process_vm_writev
        os.kill(child, signal.SIGKILL); os.waitpid(child, 0)
        libc.syscall(323, 0)                  # userfaultfd
        libc.mount(b"/", b"/mnt", b"ext4", 0, None)   # fails: no CAP_SYS_ADMIN; still reported
        os.setgid(1000); os.setuid(1000)
        """
    )
    pt = rig.wait(_is(EventKind.PTRACE))
    assert isinstance(pt.payload, TargetPayload) and pt.payload.request == 16
    assert pt.payload.target is not None and pt.payload.target.pid != pt.process.pid
    vm = rig.wait(_is(EventKind.PROCESS_VM_WRITE))
    assert isinstance(vm.payload, TargetPayload) and vm.payload.target_pid == pt.payload.target_pid
    rig.wait(_is(EventKind.USERFAULTFD))
    mnt = rig.wait(lambda e: e.kind is EventKind.MOUNT and isinstance(e.payload, MountPayload)
                   and e.payload.target == "/mnt")  # fmt: skip
    assert isinstance(mnt.payload, MountPayload)
    assert (mnt.payload.source, mnt.payload.target, mnt.payload.fstype) == ("/", "/mnt", "ext4")
    assert mnt.payload.result < 0
    cred = rig.wait(lambda e: e.kind is EventKind.CRED_CHANGE and isinstance(e.payload, CredPayload)
                    and e.payload.syscall == "setuid")  # fmt: skip
    assert isinstance(cred.payload, CredPayload)
    assert (cred.payload.old_uid, cred.payload.new_uid, cred.payload.new_euid) == (0, 1000, 1000)
    # setgid's syscall number decodes (the exit tracepoint's number is an int, not a long)
    rig.wait(lambda e: e.kind is EventKind.CRED_CHANGE and isinstance(e.payload, CredPayload)
             and e.payload.syscall == "setgid" and e.payload.new_gid == 1000)  # fmt: skip


def test_exec_of_setuid_binary_changing_euid(rig: Rig) -> None:
    rig.run(
        """
        import os, shutil
        shutil.copy("/usr/bin/id", "/tmp/rtg-suid"); os.chmod("/tmp/rtg-suid", 0o4755)
        """
    )
    out = rig.box.exec(["/bin/sh", "-c", "exec /tmp/rtg-suid -u"], user=(1000, 1000))
    assert out.stdout.strip() == "0", out.stderr
    ev = rig.wait(lambda e: e.kind is EventKind.CRED_CHANGE and isinstance(e.payload, CredPayload)
                  and e.payload.syscall == "execve")  # fmt: skip
    assert isinstance(ev.payload, CredPayload)
    assert (ev.payload.old_euid, ev.payload.new_euid, ev.payload.new_uid) == (1000, 0, 1000)
    assert ev.process.exe_path == "/tmp/rtg-suid"


STAT_LIB = """
import os
root = next(ln.split() for ln in open("/proc/self/mountinfo") if ln.split()[4] == "/")
major, minor = map(int, root[2].split(":"))
print(os.makedev(major, minor), os.stat("/tmp/rtg-lib.so").st_ino)
"""
LOAD_LIB = """
import ctypes, sys
ctypes.CDLL(sys.argv[1])
ctypes.CDLL("libm.so.6")
"""


def test_library_written_in_container_reported_once_per_version(rig: Rig) -> None:
    def libs() -> list[Event]:
        return [e for e in rig.events if e.kind is EventKind.LIBRARY_LOAD]

    rig.run('import shutil; shutil.copy("/lib/x86_64-linux-gnu/libm.so.6", "/tmp/rtg-lib.so")')
    out = rig.box.exec([PY, "-c", LOAD_LIB, "/tmp/rtg-lib.so"])
    assert out.returncode == 0, out.stderr
    ev = rig.wait(lambda e: e.kind is EventKind.LIBRARY_LOAD)
    assert isinstance(ev.payload, LibraryPayload)
    assert ev.payload.path == "/tmp/rtg-lib.so" and ev.payload.written_after_start
    # dev/ino of the overlay inode (like an exec's exe_dev): the root mount's device, the file's ino.
    ids = rig.box.exec([PY, "-c", STAT_LIB])
    assert (ev.payload.dev, ev.payload.ino) == tuple(map(int, ids.stdout.split())), ids
    assert ev.container is not None and ev.container.id == rig.box.container_id
    assert ev.process.name.startswith("python")
    # Another process maps the same library: no second event. Lower-layer libraries never report.
    out = rig.box.exec([PY, "-c", LOAD_LIB, "/tmp/rtg-lib.so"])
    assert out.returncode == 0, out.stderr
    time.sleep(0.3)
    rig.pump()
    assert [e.payload for e in libs()] == [ev.payload], libs()
    # Rewritten in place (new mtime/ctime): reported again.
    rig.run(
        """
        import os, time
        time.sleep(0.01)
        data = open("/tmp/rtg-lib.so", "rb").read()
        with open("/tmp/rtg-lib.so", "r+b") as f:
            f.write(data)
        """
    )
    out = rig.box.exec([PY, "-c", LOAD_LIB, "/tmp/rtg-lib.so"])
    assert out.returncode == 0, out.stderr
    rig.wait(lambda e: e.kind is EventKind.LIBRARY_LOAD and e is not ev)
    time.sleep(0.3)
    rig.pump()
    paths = [e.payload.path for e in libs() if isinstance(e.payload, LibraryPayload)]
    assert paths == ["/tmp/rtg-lib.so", "/tmp/rtg-lib.so"], paths


MPROTECT_LIB = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
fd = os.open(sys.argv[1], os.O_RDONLY)
addr = libc.mmap(None, 4096, 1, 2, fd, 0)             # PROT_READ, MAP_PRIVATE: not executable yet
assert addr not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
assert libc.mprotect(addr, 4096, 1 | 4) == 0, ctypes.get_errno()   # now PROT_READ | PROT_EXEC
"""


def test_library_made_executable_by_mprotect_is_reported(rig: Rig) -> None:
    """A file mapped read-only, then made executable with mprotect: a library load too."""
    rig.run('import shutil; shutil.copy("/lib/x86_64-linux-gnu/libm.so.6", "/tmp/rtg-lib2.so")')
    out = rig.box.exec([PY, "-c", MPROTECT_LIB, "/tmp/rtg-lib2.so"])
    assert out.returncode == 0, out.stderr
    ev = rig.wait(
        lambda e: (
            e.kind is EventKind.LIBRARY_LOAD
            and isinstance(e.payload, LibraryPayload)
            and e.payload.path == "/tmp/rtg-lib2.so"
        )
    )
    assert isinstance(ev.payload, LibraryPayload) and ev.payload.written_after_start
    assert ev.container is not None and ev.container.id == rig.box.container_id


def test_module_load_attempts_seen_with_or_without_module_support(rig: Rig) -> None:
    # Without CONFIG_MODULES there are no (f)init_module tracepoints: raw sys_enter sees the attempts.
    rig.run(
        """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        open("/tmp/rtg-mod.ko", "w").write("not a module")
        fd = os.open("/tmp/rtg-mod.ko", os.O_RDONLY)
        assert libc.syscall(313, fd, b"rtg=1", 0) == -1      # finit_module
        assert libc.syscall(175, None, 0, b"rtg=2") == -1     # init_module
        """
    )
    fin = rig.wait(lambda e: e.kind is EventKind.MODULE_LOAD and e.payload == ModulePayload(
        name="rtg=1", path="/tmp/rtg-mod.ko"))  # fmt: skip
    assert fin.process.name.startswith("python")
    rig.wait(lambda e: e.kind is EventKind.MODULE_LOAD and e.payload == ModulePayload(name="rtg=2"))
    assert rig.sensor.blind_spots() == [], "module loads are no longer a blind spot"


def test_network_socket_dup_onto_stdio_by_dup2_dup3_and_dup(rig: Rig) -> None:
    """A reverse shell's first step: its connection becomes fds 0-2. Unix sockets, pipes and dups
    onto other fds are not reported. (``os.dup`` is fcntl(F_DUPFD_CLOEXEC), which the sensor does
    not watch; libc's dup is the dup syscall.)"""
    rig.run(
        """
        import ctypes, os, socket
        srv = socket.socket(); srv.bind(("127.0.0.1", 4343)); srv.listen()
        cli = socket.socket(); cli.connect(("127.0.0.1", 4343)); conn, _ = srv.accept()
        a, b = socket.socketpair()
        saved = [os.dup(0), os.dup(1), os.dup(2)]   # fds above 2: not stdio
        os.dup2(a.fileno(), 0)                      # a unix socket: not reported
        os.dup2(cli.fileno(), 0)                    # dup2
        os.dup2(cli.fileno(), 1, inheritable=False) # dup3 (O_CLOEXEC)
        os.close(2); assert ctypes.CDLL(None).dup(cli.fileno()) == 2  # dup(2): the lowest free fd
        for fd, old in enumerate(saved):
            os.dup2(old, fd)                        # back to the pipes: not reported
        """
    )
    seen: dict[int, NetPayload] = {}
    deadline = time.monotonic() + 8
    while len(seen) < 3 and time.monotonic() < deadline:
        rig.pump()
        for ev in rig.events:
            if ev.kind is EventKind.STDIO_REDIRECT and isinstance(ev.payload, NetPayload):
                seen[ev.payload.fd] = ev.payload
    assert sorted(seen) == [0, 1, 2], seen
    for p in seen.values():
        assert (p.family, p.protocol, p.remote_ip, p.remote_port, p.local_ip) == (
            2,
            6,
            "127.0.0.1",
            4343,
            "127.0.0.1",
        )
    redirects = [e for e in rig.events if e.kind is EventKind.STDIO_REDIRECT]
    assert len(redirects) == 3, redirects  # not the unix socket, not the pipes, not fds above 2
    assert {e.process.name for e in redirects} == {os.path.basename(os.path.realpath(PY))}
