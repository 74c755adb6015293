"""Executable hashing: correct digests, cache by file identity, and refusals that never raise."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rtguard.agent.enrich.hashing import HashResult, Sha256Cache


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_digest_and_cache_hit(tmp_path: Path) -> None:
    f = tmp_path / "bin"
    f.write_bytes(b"\x7fELF" + os.urandom(3 * 1024 * 1024 + 7))  # several read chunks
    cache = Sha256Cache()
    first = cache.hash_path(str(f))
    assert first == HashResult(sha256=_sha(f.read_bytes()), size=f.stat().st_size)
    second = cache.hash_path(str(f))
    assert second.cached
    assert second.sha256 == first.sha256
    assert (cache.stats.hashed, cache.stats.hits) == (1, 1)
    assert cache.stats.bytes_read == f.stat().st_size


def test_empty_file(tmp_path: Path) -> None:
    f = tmp_path / "empty"
    f.write_bytes(b"")
    assert Sha256Cache().sha256(str(f)) == _sha(b"")


def test_rewritten_file_is_rehashed(tmp_path: Path) -> None:
    f = tmp_path / "bin"
    f.write_bytes(b"one")
    cache = Sha256Cache()
    assert cache.sha256(str(f)) == _sha(b"one")
    st = f.stat()
    f.write_bytes(b"two")  # same size; restore mtime: ctime still changes, so the key does too
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.sha256(str(f)) == _sha(b"two")
    assert cache.stats.hashed == 2


def test_too_large_is_skipped_with_reason_and_remembered(tmp_path: Path) -> None:
    f = tmp_path / "big"
    f.write_bytes(b"x" * 1000)
    cache = Sha256Cache(max_file_bytes=999)
    result = cache.hash_path(str(f))
    assert (result.sha256, result.reason, result.size, result.ok) == ("", "too_large", 1000, False)
    assert cache.stats.bytes_read == 0
    again = cache.hash_path(str(f))
    assert (again.reason, again.cached) == ("too_large", True)


@pytest.mark.timeout(10)
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cache = Sha256Cache()
    assert cache.hash_path(str(fifo)).reason == "not_regular"
    assert cache.hash_path("/dev/zero").reason == "not_regular"
    assert cache.hash_path(str(tmp_path)).reason in {"not_regular", "os:EISDIR"}
    assert cache.stats.failures["not_regular"] >= 2


def test_missing_and_bad_paths() -> None:
    cache = Sha256Cache()
    assert cache.hash_path("/nonexistent/x").reason == "os:ENOENT"
    assert cache.hash_path("bad\0path").reason == "bad_path"
    assert cache.stats.failures == {"os:ENOENT": 1, "bad_path": 1}


def test_hash_fd_does_not_move_offset(tmp_path: Path) -> None:
    f = tmp_path / "bin"
    f.write_bytes(b"abcdef")
    fd = os.open(f, os.O_RDONLY)
    try:
        os.lseek(fd, 3, os.SEEK_SET)
        assert Sha256Cache().hash_fd(fd).sha256 == _sha(b"abcdef")
        assert os.lseek(fd, 0, os.SEEK_CUR) == 3
    finally:
        os.close(fd)
    assert Sha256Cache().hash_fd(fd).reason == "os:EBADF"


def test_lru_is_bounded(tmp_path: Path) -> None:
    cache = Sha256Cache(max_entries=3)
    for i in range(10):
        f = tmp_path / f"b{i}"
        f.write_bytes(str(i).encode())
        cache.hash_path(str(f))
    assert len(cache) == 3


def test_proc_exe_of_deleted_binary(tmp_path: Path) -> None:
    copy = tmp_path / "sleep-copy"
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", copy)
    expected = _sha(copy.read_bytes())
    proc = subprocess.Popen([str(copy), "300"])
    try:
        copy.unlink()
        assert Sha256Cache().sha256(f"/proc/{proc.pid}/exe") == expected
    finally:
        proc.kill()
        proc.wait()


def test_proc_self_exe_matches_interpreter() -> None:
    with open(os.path.realpath(sys.executable), "rb") as fh:
        expected = _sha(fh.read())
    assert Sha256Cache().sha256("/proc/self/exe") == expected
