"""The harmless test executable: its pinned hash, its shape, and its place on the built-in list."""

from __future__ import annotations

import hashlib
import os
import platform
import struct
import subprocess
import time
from pathlib import Path

import pytest

from rtguard.detect.detectors.malicious_file import BUILTIN_THREAT_HASHES
from rtguard.intel.samples import TEST_EXECUTABLE, TEST_EXECUTABLE_SHA256, TEST_EXECUTABLE_THREAT
from rtguard.testing.behaviour import found
from rtguard.testing.events import exec_event

MAL = "Execution:Runtime/MaliciousFileExecuted"


def test_the_pinned_hash_is_the_hash_of_the_bytes() -> None:
    assert hashlib.sha256(TEST_EXECUTABLE).hexdigest() == TEST_EXECUTABLE_SHA256
    assert len(TEST_EXECUTABLE) < 256


def test_it_is_a_static_x86_64_elf_with_one_loadable_segment() -> None:
    assert TEST_EXECUTABLE[:4] == b"\x7fELF"
    e_type, e_machine = struct.unpack_from("<HH", TEST_EXECUTABLE, 16)
    assert (e_type, e_machine) == (2, 0x3E)
    (phnum,) = struct.unpack_from("<H", TEST_EXECUTABLE, 56)
    assert phnum == 1
    p_type, p_flags = struct.unpack_from("<II", TEST_EXECUTABLE, 64)
    assert (p_type, p_flags) == (1, 5)  # PT_LOAD, read + execute, never writable


def test_it_is_on_the_built_in_list_and_found_when_run() -> None:
    assert BUILTIN_THREAT_HASHES[TEST_EXECUTABLE_SHA256] == TEST_EXECUTABLE_THREAT
    (d,) = found(exec_event("sample", exe_path="/tmp/sample", exe_sha256=TEST_EXECUTABLE_SHA256), MAL)
    assert d.context == {"threatFilePath": "/tmp/sample"}
    assert d.evidence[0].threat_names == (TEST_EXECUTABLE_THREAT,)


@pytest.mark.skipif(platform.machine() != "x86_64" or os.name != "posix", reason="x86-64 Linux executable")
def test_it_runs_prints_its_message_and_exits_zero(tmp_path: Path) -> None:
    exe = tmp_path / "rtguard-test-executable"
    exe.write_bytes(TEST_EXECUTABLE)
    exe.chmod(0o755)
    start = time.monotonic()
    out = subprocess.run([str(exe)], capture_output=True, timeout=10, check=False)
    assert (out.returncode, out.stdout, out.stderr) == (0, b"rtguard harmless test executable\n", b"")
    assert 0.9 < time.monotonic() - start < 5
