"""Memory hygiene: freed heap goes back to the system after ``release``."""

from __future__ import annotations

import re
from pathlib import Path

from rtguard.agent import memory


def _anon_kib() -> int:
    status = Path("/proc/self/status").read_text()
    m = re.search(r"RssAnon:\s+(\d+)", status)
    assert m is not None
    return int(m.group(1))


def test_release_returns_freed_heap_to_the_system() -> None:
    assert memory.tune_allocator()  # glibc: the settings were taken
    blocks = [bytes(2000) for _ in range(40_000)]  # ~80 MB of heap (above pymalloc's sizes)
    keep = blocks[-1]  # the newest block pins the top of the heap: only a trim frees below it
    grown = _anon_kib()
    del blocks
    memory.release()
    after = _anon_kib()
    assert grown - after > 40_000, (grown, after)  # most of the 80 MB left the process
    assert len(keep) == 2000


def test_tune_gc_freezes_startup_objects_and_still_collects_cycles() -> None:
    import gc
    import weakref

    before = gc.get_threshold()
    try:
        memory.tune_gc()
        assert gc.get_threshold() == (memory.GC_GEN0, memory.GC_GEN1, memory.GC_GEN2)
        assert gc.get_freeze_count() > 0  # this process's start-up objects left the generations

        class Node:
            other: object = None

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        ref = weakref.ref(a)
        del a, b
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
