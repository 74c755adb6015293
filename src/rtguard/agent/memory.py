"""The agent's memory hygiene: glibc allocator settings and giving freed memory back.

A long-running Python agent on glibc keeps freed heap memory by default: large buffers
(hashing, batch bodies) raise the dynamic mmap threshold until they are carved from the heap,
and freed heap is not returned to the system. ``tune_allocator`` fixes the mmap threshold at
512 KiB (a batch body, ~200 KiB of JSON, comes from the heap and is reused: as its own mapping
it cost an mmap, a page fault per page and a munmap whose TLB shoot-down interrupts the other
CPUs, ~5 µs of system time per exec in a storm; bigger blocks come and go as mappings) and
caps malloc arenas at two (the agent has a handful of threads, and each arena costs resident
memory); ``release`` runs a garbage
collection and ``malloc_trim`` after start-up and now and then. On other C libraries both do
nothing. ``tune_gc`` makes the cyclic garbage collector cheap for a process that allocates a
few dozen objects per event, almost none of them in cycles: start-up objects (modules, the BPF
object, the /proc snapshot) are frozen out of every collection, and the youngest generation is
collected every ``GC_GEN0`` allocations instead of 700 (each collection of an older generation
walks the process table). This module must not change what the agent records or sends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from typing import Final

_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
_M_ARENA_MAX: Final = -8
GC_GEN0: Final = 50_000  # net container allocations between young collections
GC_GEN1: Final = 20
GC_GEN2: Final = 20


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def tune_allocator(mmap_threshold: int = 512 * 1024, arenas: int = 2) -> bool:
    """Fix glibc's mmap threshold and cap its arenas; True when applied (glibc only)."""
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1)
    ok = bool(libc.mallopt(_M_TRIM_THRESHOLD, 2 * mmap_threshold) == 1) and ok
    return bool(libc.mallopt(_M_ARENA_MAX, arenas) == 1) and ok


def trim() -> None:
    """Return free heap pages to the system (glibc ``malloc_trim``); safe from any thread."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def release() -> None:
    """Collect garbage, then ``trim``."""
    gc.collect()
    trim()


def tune_gc() -> None:
    """Freeze what exists now out of collections and collect young objects less often.

    Call once after start-up (after ``release``). Cycles are still found, later: memory held
    by garbage cycles is bounded by ``GC_GEN0`` allocations' worth.
    """
    gc.freeze()
    gc.set_threshold(GC_GEN0, GC_GEN1, GC_GEN2)
