"""Privileged: the new mount API (fsopen/fsconfig/fsmount/move_mount/open_tree) and opens of
/dev/userfaultfd, seen by the real BPF sensor for a process we start on the host.

The mounting process runs in its own mount namespace (``unshare -m``), so nothing reaches the
host's mount table. Records are filtered to that process's pid.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from rtguard.agent.sensors.bpf.sensor import BpfSensor
from rtguard.agent.sensors.records import MountRecord, ProcOpRecord, Record

# x86-64 syscall numbers of the new mount API.
NEW_API = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
target = sys.argv[1]
os.makedirs(target, exist_ok=True)
fs = libc.syscall(430, b"tmpfs", 0)                                   # fsopen
assert fs >= 0, ctypes.get_errno()
assert libc.syscall(431, fs, 1, b"source", b"rtg-src", 0) == 0        # fsconfig SET_STRING source
assert libc.syscall(431, fs, 6, None, None, 0) == 0                   # fsconfig CMD_CREATE
mnt = libc.syscall(432, fs, 0, 0)                                     # fsmount
assert mnt >= 0, ctypes.get_errno()
assert libc.syscall(429, mnt, b"", -100, target.encode(), 4) == 0     # move_mount F_EMPTY_PATH
tree = libc.syscall(428, -100, b"/etc", 1)                            # open_tree CLONE
assert tree >= 0, ctypes.get_errno()
assert libc.syscall(429, tree, b"", -100, target.encode(), 4) == 0
assert libc.syscall(430, b"rtg-nofs", 0) == -1                        # fsopen of an unknown type fails
pick = libc.syscall(433, -100, target.encode(), 0)                    # fspick the mounted tree
assert pick >= 0, ctypes.get_errno()
attr = (ctypes.c_uint64 * 4)(0x1, 0x2, 0, 0)                          # set RDONLY, clear NOSUID
assert libc.syscall(442, -100, target.encode(), 0, attr, 32) == 0     # mount_setattr
# fd reuse: an fs-context fd is closed and its number now names a plain file; a move_mount
# through it must not be described with the closed context's fstype.
stale = libc.syscall(430, b"tmpfs", 0)
os.close(stale)
plain = os.open("/etc/hostname", os.O_RDONLY)
assert plain == stale, (plain, stale)
assert libc.syscall(429, plain, b"", -100, target.encode(), 4) == -1  # not a mount: fails
"""

UFFD = """
import os
os.close(os.open("/dev/userfaultfd", os.O_RDONLY | os.O_CLOEXEC))
try:
    os.open("/dev/userfaultfd", os.O_RDONLY | os.O_DIRECTORY)
except NotADirectoryError:
    pass
"""


def _records_of(sensor: BpfSensor, args: list[str], want: int, kind: type) -> list[Record]:
    proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout.split()[-1])  # the script prints its pid last (see _py)
    got: list[Record] = []
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and len(got) < want:
        got += [r for r in sensor.poll(50) if isinstance(r, kind) and getattr(r, "pid", 0) == pid]
    time.sleep(0.2)
    got += [r for r in sensor.poll(50) if isinstance(r, kind) and getattr(r, "pid", 0) == pid]
    return got


def _fstype_of(path: str) -> str:
    """The filesystem type of the mount that holds ``path`` (longest mount point prefix)."""
    best, fstype = "", ""
    with open("/proc/self/mounts") as mounts:
        lines = mounts.read().splitlines()
    for line in lines:
        _dev, mnt, kind, *_ = line.split()
        if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
            best, fstype = mnt, kind
    return fstype


def _py(script: str) -> str:
    return script + "\nprint(os.getpid())\n"


def test_new_mount_api_steps_carry_source_target_fstype(
    sensor: BpfSensor, tmp_path_factory: pytest.TempPathFactory
) -> None:
    target = str(tmp_path_factory.mktemp("mnt") / "rtg-mnt")
    recs = _records_of(sensor, ["unshare", "-m", sys.executable, "-c", _py(NEW_API), target], 12, MountRecord)
    # unshare's own mount(2) (making / private) comes first; then the script's steps.
    steps = [
        (r.syscall, r.source, r.target, r.fstype, r.result >= 0)
        for r in recs
        if isinstance(r, MountRecord) and r.syscall != "mount"
    ]
    assert steps == [
        ("fsopen", "", "", "tmpfs", True),
        ("fsmount", "rtg-src", "", "tmpfs", True),
        ("move_mount", "rtg-src", target, "tmpfs", True),
        ("open_tree", "/etc", "", "", True),
        ("move_mount", "/etc", target, "", True),
        ("fsopen", "", "", "rtg-nofs", False),
        ("fspick", target, "", _fstype_of("/etc"), True),  # the /etc clone is the top mount
        ("mount_setattr", "", target, "", True),
        ("fsopen", "", "", "tmpfs", True),
        ("move_mount", "/etc/hostname", target, "", False),  # the reused fd: a file, no stale fstype
    ], steps
    (setattr,) = [r for r in recs if isinstance(r, MountRecord) and r.syscall == "mount_setattr"]
    assert setattr.flags == 0x1 | 0x2 << 32  # attr_set | attr_clr << 32


def test_dev_userfaultfd_opens_are_reported_failed_or_not(sensor: BpfSensor) -> None:
    recs = _records_of(sensor, [sys.executable, "-c", _py(UFFD)], 2, ProcOpRecord)
    uffd = [(r.kind, r.arg1, r.result >= 0, r.result) for r in recs if isinstance(r, ProcOpRecord)]
    assert [u[:3] for u in uffd] == [("userfaultfd", 1, True), ("userfaultfd", 1, False)], uffd
    assert uffd[1][3] == -20  # ENOTDIR
