"""A BPF ring-buffer consumer that reads the shared pages directly (x86-64), no callbacks.

The kernel's ring buffer is three things a consumer maps: the consumer page (writable: the
consumer's position), the producer page (the producer's position) and the data area. libbpf's
consumer maps the data twice, back to back, so that a record crossing the end reads as one
piece, and calls back into Python once per record. This one maps the data once (half the
resident memory: the ring's pages count in the agent's RSS), copies a record that crosses the
end in two pieces, and walks the records in a plain loop, which costs a fraction of a ctypes
callback each. ``walk`` holds the record format and is pure, so it is tested on a bytearray.

It relies on x86-64's ordering of loads and stores (a load is not reordered with an older load,
a store not with an older store): on other architectures Python cannot place the acquire and
release barriers the protocol needs, and ``available()`` says no, so the sensor keeps libbpf's
consumer there. It must not interpret records: they go out as ``bytes``, in ring order.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import platform
import select
import struct
from typing import Final

from rtguard.agent.sensors.bpf.libbpf import LibbpfError

__all__ = ["MmapRingBuffer", "available", "walk"]

BUSY_BIT: Final = 1 << 31
DISCARD_BIT: Final = 1 << 30
HDR_SIZE: Final = 8
# Native formats on purpose: the kernel reads our consumer position and writes its producer
# position and record headers while we read them. Native "Q"/"I" pack and unpack with one
# memcpy, a single 8- or 4-byte load or store on x86-64; the standard "<Q" goes byte by byte,
# low byte first, so the kernel could see a torn consumer position (a carry across bytes makes
# it jump back by up to 2**56): it then took the ring for full, refused a record and forced a
# wakeup (seen: one "ringbuf_full" now and then with a few KiB of a 4 MiB ring in use), and
# a torn producer position read here could walk into the previous lap's stale records.
_U64: Final = struct.Struct("Q")
_U32: Final = struct.Struct("I")
_PAGE: Final = mmap.PAGESIZE


def available() -> bool:
    """True where this consumer is correct (x86-64: loads and stores keep their order)."""
    return platform.machine() in ("x86_64", "AMD64")


def walk(data: memoryview, mask: int, cons: int, prod: int, limit: int, out: list[bytes]) -> int:
    """Append up to ``limit`` committed records between ``cons`` and ``prod`` to ``out``.

    ``data`` is the data area (``mask + 1`` bytes, a power of two). Stops at the first record
    still being written (busy bit). Discarded records are skipped. Returns the new consumer
    position (the caller publishes it).
    """
    size = mask + 1
    taken = 0
    unpack = _U32.unpack_from
    while cons < prod and taken < limit:
        off = cons & mask
        (hdr,) = unpack(data, off)
        if hdr & BUSY_BIT:
            break
        length = hdr & ~(BUSY_BIT | DISCARD_BIT)
        if not hdr & DISCARD_BIT:
            start = (off + HDR_SIZE) & mask
            end = start + length
            if end <= size:
                out.append(data[start:end].tobytes())
            else:  # the record crosses the end of the data area
                out.append(data[start:].tobytes() + data[: end - size].tobytes())
            taken += 1
        cons += (length + HDR_SIZE + 7) & ~7
    return cons


class MmapRingBuffer:
    """Consumer of the ring-buffer map ``map_fd`` whose data area is ``size`` bytes.

    Same interface as ``libbpf.RingBuffer``: ``consume`` takes what is there now, ``wait``
    sleeps until the kernel forces a wakeup or the timeout passes; both return at most
    ``max_batch`` records.
    """

    def __init__(self, map_fd: int, size: int, max_batch: int = 1024) -> None:
        if size < _PAGE or size & (size - 1):
            raise ValueError(f"ring size must be a power of two of at least a page: {size}")
        try:
            self._cons = mmap.mmap(map_fd, _PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
            self._prod = mmap.mmap(map_fd, _PAGE + size, mmap.MAP_SHARED, mmap.PROT_READ, offset=_PAGE)
            self._epoll = select.epoll()
            # Edge-triggered: the kernel writes records without a wakeup (BPF_RB_NO_WAKEUP) and
            # wakes the consumer only when the ring is filling up. Level-triggered, epoll would
            # report the ring readable whenever it holds a record, and under a steady stream
            # ``wait`` would return at once, draining a few records per call instead of a
            # timer's worth (measured: ~1,600 wakeups/s and ~3 records each in an exec storm).
            self._epoll.register(map_fd, select.EPOLLIN | select.EPOLLET)
        except OSError as exc:
            raise LibbpfError(exc.errno or errno.EIO, f"mapping the ring buffer failed: {exc}") from exc
        self._prod_view = memoryview(self._prod)
        self._data = self._prod_view[_PAGE:]
        self._mask = size - 1
        self._max_batch = max(1, max_batch)
        self._closed = False

    def consume(self, limit: int | None = None) -> list[bytes]:
        """Take the records in the ring now, without waiting (at most ``limit``)."""
        if self._closed:
            raise LibbpfError(errno.EBADF, "ring buffer is closed")
        cons = _U64.unpack_from(self._cons, 0)[0]
        prod = _U64.unpack_from(self._prod_view, 0)[0]
        if cons >= prod:
            return []
        out: list[bytes] = []
        new = walk(
            self._data, self._mask, cons, prod, self._max_batch if limit is None else max(1, limit), out
        )
        if new != cons:
            _U64.pack_into(self._cons, 0, new)
        return out

    def wait(self, timeout_ms: int) -> list[bytes]:
        """Sleep until a forced wakeup or ``timeout_ms``, then take what came.

        Records written without a wakeup do not end the sleep: under a steady stream each
        call returns a timer's worth of records, not the few that came since the last call.
        """
        if self._closed:
            raise LibbpfError(errno.EBADF, "ring buffer is closed")
        with contextlib.suppress(InterruptedError):
            self._epoll.poll(max(0, timeout_ms) / 1000.0, 1)
        return self.consume()

    def close(self) -> None:
        """Unmap; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._data.release()
        self._prod_view.release()
        self._prod.close()
        self._cons.close()
        self._epoll.close()
