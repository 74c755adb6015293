"""End to end: real behaviours in one runc container, seen by the real eBPF sensor, turned into
behavioural findings by the real server, read back with boto3; and ordinary commands in a
second container that must produce no finding at all.

One server+agent stack for the module. Network only on the container's own loopback.
Privileged: on CI a missing capability fails the test (``rtguard.testing.privilege``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtguard.testing.e2e_stack import E2EStack, e2e_stack, ecs_container, wait_for_types
from rtguard.testing.privilege import require_root

pytestmark = pytest.mark.e2e
PY = "/usr/bin/python3"
# The agent sees module load attempts on every kernel: this tracepoint where modules are supported,
# else raw sys_enter filtered on the syscall id (the attempt fails with ENOSYS). Always expected.
MODULE_TRACEPOINT = Path("/sys/kernel/tracing/events/syscalls/sys_enter_finit_module")
MODULE = "DefenseEvasion:Runtime/KernelModuleLoaded"

# ptrace (attach, POKEDATA, detach), process_vm_writev and a /proc/<pid>/mem write into a forked child, PTRACE_TRACEME in
# another child, userfaultfd, and a finit_module attempt (fails: no CAP_SYS_MODULE).
INJECT = r"""
import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
buf = ctypes.create_string_buffer(b"original", 16)
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
time.sleep(0.2)
libc.ptrace(16, child, None, None)
os.waitpid(child, 0)
libc.ptrace(5, child, ctypes.addressof(buf), ctypes.c_void_p(0x4141414141414141))
libc.ptrace(17, child, None, None)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
src = ctypes.create_string_buffer(b"injected", 16)
local, remote = iovec(ctypes.addressof(src), 8), iovec(ctypes.addressof(buf), 8)
libc.process_vm_writev.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
libc.process_vm_writev(child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
with open(f"/proc/{child}/mem", "r+b", buffering=0) as mem:
    mem.seek(ctypes.addressof(buf))
    mem.write(b"procmem!")
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)
anti = os.fork()
if anti == 0:
    libc.ptrace(0, 0, None, None)
    os._exit(0)
os.waitpid(anti, 0)
libc.syscall(323, 0)
fd = os.open("/tmp/rtg.ko", os.O_RDONLY)
libc.syscall(313, fd, b"", 0)
print("inject done")
"""

# memfd exec: a copy of /bin/true run from memory.
FILELESS = r"""
import os
fd = os.memfd_create("payload", 0)
os.write(fd, open("/bin/true", "rb").read())
os.execve(f"/proc/self/fd/{fd}", ["payload"], {})
"""

# Docker socket: a listening unix socket at /var/run/docker.sock, then a client connects.
DOCKER_SOCK = r"""
import os, socket
os.makedirs("/var/run", exist_ok=True)
srv = socket.socket(socket.AF_UNIX)
srv.bind("/var/run/docker.sock")
srv.listen(1)
cli = socket.socket(socket.AF_UNIX)
cli.connect("/var/run/docker.sock")
print("docker sock done")
"""

# The shell scripts below start with a listener on the container's loopback (``srv``, ``port``).
_LISTENER = r"""
import os, pty, socket, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
"""

# Reverse shell: sh -i with stdin/stdout on a TCP connection to a listener on the container's loopback.
REVERSE = (
    _LISTENER
    + r"""
if os.fork() == 0:
    srv.close()
    s = socket.create_connection(("127.0.0.1", port))
    os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)
    os.execv("/bin/sh", ["sh", "-i"])
conn, _ = srv.accept()
conn.sendall(b"echo reverse-ok; exit\n")
time.sleep(1)
os.wait()
print("reverse done")
"""
)

# Reverse shell, Python's one-liner: the connection is dup2'ed onto fds 0-2, then pty.spawn gives
# the shell a pty, so the shell's own stdio is no socket; the dups give it away.
REVERSE_PTY = (
    _LISTENER
    + r"""
if os.fork() == 0:
    srv.close()
    s = socket.create_connection(("127.0.0.1", port))
    for fd in (0, 1, 2):
        os.dup2(s.fileno(), fd)
    try:
        pty.spawn(["/bin/sh", "-c", "exit 0"])
    except OSError:  # no pty in this container: the dups are what matters
        pass
    os._exit(0)
conn, _ = srv.accept()
time.sleep(1)
conn.close()
os.wait()
print("pty reverse done")
"""
)

# Bind shell: a listening service accepts a connection and becomes sh on it.
BIND = (
    _LISTENER
    + r"""
if os.fork() == 0:
    conn, _ = srv.accept()
    os.dup2(conn.fileno(), 0); os.dup2(conn.fileno(), 1)
    os.execv("/bin/sh", ["sh"])
srv.close()
time.sleep(0.3)
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"echo bind-ok; exit\n")
time.sleep(1)
os.wait()
print("bind done")
"""
)

SHELL_STEPS = [
    # NewBinaryExecuted
    "cp /bin/true /tmp/newbin && /tmp/newbin",
    # RuncContainerEscape: runc binary written from the container (its own overlay copy)
    "printf '#!/bin/sh\\n' > /usr/local/sbin/runc",
    # CGroupsReleaseAgentModified: a release_agent file under a watched prefix
    "mkdir -p /tmp/cgroup/x && echo /tmp/evil > /tmp/cgroup/x/release_agent",
    # ContainerMountsHostDirectory: a failing mount of a host device
    "mkdir -p /tmp/hostmnt; mount -t ext4 /dev/sda1 /tmp/hostmnt; true",
    # DefenseEvasion:Runtime/SuspiciousCommand: LD_PRELOAD from /tmp; systemctl stop auditd
    "LD_PRELOAD=/tmp/libhook.so /bin/true 2>/dev/null; systemctl stop auditd 2>/dev/null; true",
    # Persistence:Runtime/SuspiciousCommand: a new user
    "useradd -M rtgbackdoor; true",
    # PrivilegeEscalation:Runtime/SuspiciousCommand: set-uid bit (also prepares ElevationToRoot)
    "cp /usr/bin/id /tmp/rootid && chmod u+s /tmp/rootid",
    # the three SensitiveFileModified types
    "echo '* * * * * root /tmp/x' > /etc/cron.d/rtg",
    "echo 'rtg ALL=(ALL) NOPASSWD:ALL' >> /etc/sudoers",
    "echo line > /var/log/rtg-test.log && rm /var/log/rtg-test.log",
]

EXPECTED = {
    "Execution:Runtime/NewBinaryExecuted": {"modifyingProcess", "modifiedAt"},
    "PrivilegeEscalation:Runtime/DockerSocketAccessed": {"socketPath"},
    "PrivilegeEscalation:Runtime/RuncContainerEscape": {"runcBinaryPath"},
    "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified": {"releaseAgentPath"},
    "DefenseEvasion:Runtime/ProcessInjection.Proc": set(),
    "DefenseEvasion:Runtime/ProcessInjection.Ptrace": None,
    "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite": None,
    "DefenseEvasion:Runtime/PtraceAntiDebugging": set(),
    "Execution:Runtime/ReverseShell": set(),
    "Execution:Runtime/SuspiciousShellCreated": set(),
    "DefenseEvasion:Runtime/FilelessExecution": set(),
    "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory": {
        "mountSource",
        "mountTarget",
        "fileSystemType",
        "flags",
    },
    "PrivilegeEscalation:Runtime/UserfaultfdUsage": set(),
    "DefenseEvasion:Runtime/KernelModuleLoaded": None,
    "DefenseEvasion:Runtime/SuspiciousCommand": None,
    "Persistence:Runtime/SuspiciousCommand": {"commandLineExample"},
    "PrivilegeEscalation:Runtime/SuspiciousCommand": {"commandLineExample"},
    "PrivilegeEscalation:Runtime/ElevationToRoot": set(),
    "Persistence:Runtime/SensitiveFileModified": None,
    "PrivilegeEscalation:Runtime/SensitiveFileModified": None,
    "DefenseEvasion:Runtime/SensitiveFileModified": None,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    require_root()
    with e2e_stack(tmp_path_factory.mktemp("behaviours")) as s:
        yield s


def test_real_behaviours_become_their_findings(stack: E2EStack) -> None:
    files = {
        "/opt/rtg/inject.py": INJECT,
        "/opt/rtg/fileless.py": FILELESS,
        "/opt/rtg/docker_sock.py": DOCKER_SOCK,
        "/opt/rtg/reverse.py": REVERSE,
        "/opt/rtg/reverse_pty.py": REVERSE_PTY,
        "/opt/rtg/bind.py": BIND,
        "/tmp/rtg.ko": "not a module\n",
    }
    caps = [
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_PTRACE",
        "CAP_CHOWN",
        "CAP_FOWNER",
    ]
    det = stack.cred["detector_id"]
    with ecs_container(stack, "attacked", capabilities=caps, no_new_privileges=False, files=files) as box:
        for step in SHELL_STEPS:
            box.exec(["sh", "-c", step], timeout=30)
        for script in ("inject", "fileless", "docker_sock", "reverse_pty", "reverse", "bind"):
            out = box.exec([PY, f"/opt/rtg/{script}.py"], timeout=60)
            assert out.returncode == 0, (script, out.stdout, out.stderr)
        # ElevationToRoot: the set-uid copy of id run by an ordinary user
        out = box.exec(["/tmp/rootid", "-u"], user=(1000, 1000), timeout=30)
        assert out.stdout.strip() == "0", (out.stdout, out.stderr)
        expected = dict(EXPECTED)
        found = wait_for_types(stack.gd, det, box.container_id, set(expected))
    missing = sorted(set(expected) - set(found))
    assert not missing, f"missing: {missing}; got {sorted(found)}"
    for ftype, keys in expected.items():
        for f in found[ftype]:
            context = f["Service"]["RuntimeDetails"].get("Context", {})
            got = {k[:1].lower() + k[1:] for k in context}
            if keys is not None:
                assert got == keys, (
                    ftype,
                    context,
                    f["Service"]["RuntimeDetails"]["Process"]["ExecutablePath"],
                )
    sev = {t: fs[0]["Severity"] for t, fs in found.items()}
    assert sev["PrivilegeEscalation:Runtime/RuncContainerEscape"] == 8.0
    assert sev["DefenseEvasion:Runtime/PtraceAntiDebugging"] == 2.0
    new = found["Execution:Runtime/NewBinaryExecuted"]
    assert any(f["Service"]["RuntimeDetails"]["Process"]["ExecutablePath"] == "/tmp/newbin" for f in new)
    docker = found["PrivilegeEscalation:Runtime/DockerSocketAccessed"][0]
    assert docker["Service"]["RuntimeDetails"]["Context"]["SocketPath"].endswith("docker.sock")
    rev = {f["Service"]["RuntimeDetails"]["Process"]["Name"] for f in found["Execution:Runtime/ReverseShell"]}
    assert rev & {"sh", "dash"}, rev  # the shell on the socket
    assert any(n.startswith("python") for n in rev), rev  # the process that dup'ed it onto its stdio
    if MODULE in expected:
        module = found[MODULE][0]["Service"]["RuntimeDetails"]["Context"]
        assert module.get("ModuleFilePath", "").endswith("rtg.ko") or "ModuleName" in module, module


BENIGN = [
    "apt-get --version",
    f"{PY} -c 'import json; print(json.dumps({{\"a\": 1}}))'",
    "gcc --version || true",
    "for i in 1 2 3; do echo $i; done | sort -r | head -1",
    "ls -la /etc > /tmp/listing && wc -l /tmp/listing && rm /tmp/listing",
    f"{PY} -m http.server 8088 --bind 127.0.0.1 & sleep 1; "
    f"{PY} -c 'import urllib.request as u; print(len(u.urlopen(\"http://127.0.0.1:8088/\").read()))'; "
    "kill $!",
]


def test_ordinary_commands_produce_no_finding(stack: E2EStack) -> None:
    det = stack.cred["detector_id"]
    with ecs_container(stack, "benign") as box:
        for step in BENIGN:
            out = box.exec(["sh", "-c", step], timeout=60)
            assert out.returncode == 0, (step, out.stderr)
        marker = box.exec(["sh", "-c", "cp /bin/true /tmp/marker && /tmp/marker"], timeout=30)
        assert marker.returncode == 0
        # the marker's finding proves the pipeline delivered this container's events
        found = wait_for_types(stack.gd, det, box.container_id, {"Execution:Runtime/NewBinaryExecuted"})
    assert set(found) == {"Execution:Runtime/NewBinaryExecuted"}, sorted(found)
    (only,) = found["Execution:Runtime/NewBinaryExecuted"]
    assert only["Service"]["RuntimeDetails"]["Process"]["ExecutablePath"] == "/tmp/marker"
