"""SHA-256 of executables, cached by file identity, for ``Process.exe_sha256``.

``Sha256Cache`` hashes a file by path or through an already open descriptor (``/proc/<pid>/exe``
opens the very image a process runs, also when it was deleted or lives in a memfd) and caches
the digest under (device, inode, mtime, ctime, size), so an exec storm of one binary costs one
read. The cache is a bounded LRU. It must never raise into the hot path: every failure becomes
a ``HashResult`` with an empty digest and a reason, counted in ``stats``. It must never block
on a FIFO or device (non-regular files are refused before any read), and files larger than
``max_file_bytes`` are skipped with the reason ``too_large`` rather than given a partial digest
that would not match anyone's threat intelligence.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "HashResult",
    "HashStats",
    "Sha256Cache",
]

DEFAULT_MAX_FILE_BYTES: Final = 64 * 1024 * 1024
_CHUNK: Final = 256 * 1024
_OPEN_FLAGS: Final = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


@dataclass(frozen=True, slots=True, kw_only=True)
class HashResult:
    """A digest, or why there is none.

    ``sha256`` is lowercase hex, ``""`` when not computed; ``reason`` is ``""`` on success,
    else one of ``too_large``, ``not_regular``, ``changed`` (the file changed while being read)
    or ``os:<ERRNO>`` (``os:ENOENT``, ``os:EACCES``, ...). ``cached`` says whether the
    answer came from the cache.
    """

    sha256: str = ""
    reason: str = ""
    size: int = 0
    cached: bool = False

    @property
    def ok(self) -> bool:
        """True when ``sha256`` holds a digest."""
        return bool(self.sha256)


@dataclass(slots=True)
class HashStats:
    """Counters: cache hits, files hashed, bytes read, and failures by reason."""

    hits: int = 0
    hashed: int = 0
    bytes_read: int = 0
    failures: dict[str, int] = field(default_factory=dict)


_Key = tuple[int, int, int, int, int]


def _key(st: os.stat_result) -> _Key:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _os_reason(exc: OSError) -> str:
    return "os:" + errno.errorcode.get(exc.errno or 0, "EIO")


class Sha256Cache:
    """Bounded LRU of executable digests keyed by file identity. Thread-safe.

    Args:
        max_entries: how many digests (and ``too_large`` verdicts) to keep.
        max_file_bytes: files larger than this are not hashed (reason ``too_large``).
    """

    def __init__(self, max_entries: int = 4096, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
        self._max_entries = max(1, max_entries)
        self._max_file_bytes = max(0, max_file_bytes)
        self._entries: OrderedDict[_Key, HashResult] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.stats = HashStats()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def hash_path(self, path: str) -> HashResult:
        """Hash the file at ``path`` (e.g. ``/proc/<pid>/exe``). Never raises."""
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            return self._fail(_os_reason(exc))
        except (ValueError, TypeError):
            return self._fail("bad_path")
        try:
            return self.hash_fd(fd)
        finally:
            os.close(fd)

    def hash_fd(self, fd: int) -> HashResult:
        """Hash the open file ``fd`` from offset 0 (``pread``, so the offset is not moved).

        The caller keeps ownership of ``fd``. Never raises.
        """
        try:
            before = os.fstat(fd)
        except OSError as exc:
            return self._fail(_os_reason(exc))
        if not stat.S_ISREG(before.st_mode):
            return self._fail("not_regular")
        key = _key(before)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return HashResult(sha256=cached.sha256, reason=cached.reason, size=cached.size, cached=True)
        if before.st_size > self._max_file_bytes:
            result = HashResult(reason="too_large", size=before.st_size)
            self._remember(key, result)
            return self._fail("too_large", result)
        try:
            digest, read = self._digest(fd, before.st_size)
            after = os.fstat(fd)
        except OSError as exc:
            return self._fail(_os_reason(exc))
        if _key(after) != key or read != before.st_size:
            return self._fail("changed")
        result = HashResult(sha256=digest, size=read)
        with self._lock:
            self.stats.hashed += 1
            self.stats.bytes_read += read
        self._remember(key, result)
        return result

    def sha256(self, path: str) -> str:
        """The hex digest of ``path``, or ``""`` when it cannot be computed."""
        return self.hash_path(path).sha256

    def _digest(self, fd: int, size: int) -> tuple[str, int]:
        h = hashlib.sha256()
        buf = getattr(self._local, "buf", None)
        if buf is None:  # one reused buffer per thread: no large allocation per read
            buf = self._local.buf = bytearray(_CHUNK)
        view = memoryview(buf)
        offset = 0
        # Read one byte past the expected size so that a file growing under us is noticed.
        while offset <= size:
            n = os.preadv(fd, [view], offset)
            if not n:
                break
            h.update(view[:n])
            offset += n
        return h.hexdigest(), offset

    def _remember(self, key: _Key, result: HashResult) -> None:
        with self._lock:
            self._entries[key] = result
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def _fail(self, reason: str, result: HashResult | None = None) -> HashResult:
        with self._lock:
            self.stats.failures[reason] = self.stats.failures.get(reason, 0) + 1
        return result if result is not None else HashResult(reason=reason)
