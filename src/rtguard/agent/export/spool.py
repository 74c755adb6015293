"""An ordered, bounded on-disk spool of encoded batches for when the server is away.

Each batch is one file named by its sequence number, written to a temporary name, fsynced
and renamed, so a crash never leaves half a batch. ``peek`` returns the oldest batch; it is
removed only after the server acknowledged it (``remove``). When the spool is full the new
batch is refused and counted (``spool_full``): data already spooled is never overwritten.
It must not know HTTP or the wire format: it stores opaque bytes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Final

_SUFFIX: Final = ".batch"


class DiskSpool:
    """A directory of batches. Thread-safe.

    Args:
        directory: created when missing; batches left by an earlier run are kept and sent.
        max_bytes: bound on the bytes held.
    """

    def __init__(self, directory: Path, *, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._index: dict[int, int] = {}
        for path in self._dir.glob(f"*{_SUFFIX}"):
            try:
                self._index[int(path.stem)] = path.stat().st_size
            except (ValueError, OSError):
                continue
        for tmp in self._dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        self.refused = 0

    def _path(self, seq: int) -> Path:
        return self._dir / f"{seq:020d}{_SUFFIX}"

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    def size_bytes(self) -> int:
        """Bytes held."""
        with self._lock:
            return sum(self._index.values())

    def max_seq(self) -> int:
        """The highest sequence number held, or -1."""
        with self._lock:
            return max(self._index, default=-1)

    def put(self, seq: int, data: bytes) -> bool:
        """Store a batch durably; return False (and count it) when the spool is full."""
        with self._lock:
            if sum(self._index.values()) + len(data) > self._max_bytes:
                self.refused += 1
                return False
            tmp = self._dir / f"{seq:020d}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path(seq))
            self._index[seq] = len(data)
            return True

    def peek(self) -> tuple[int, bytes] | None:
        """The oldest batch as (seq, bytes), or None when empty."""
        with self._lock:
            if not self._index:
                return None
            seq = min(self._index)
        try:
            return seq, self._path(seq).read_bytes()
        except OSError:
            with self._lock:
                self._index.pop(seq, None)
            return None

    def remove(self, seq: int) -> None:
        """Forget a batch the server acknowledged."""
        with self._lock:
            self._index.pop(seq, None)
        self._path(seq).unlink(missing_ok=True)
