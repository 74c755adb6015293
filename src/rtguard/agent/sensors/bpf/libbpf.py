"""ctypes binding to the system libbpf (``libbpf.so.1``, 1.1 or newer): the only module that imports it.

It opens a BPF object file, sets ``.rodata`` knobs and map sizes between open and load, loads
and attaches every program, drains a ring buffer into ``bytes`` records, reads per-CPU
counters, mounts tracefs when a classic tracepoint needs it, and captures libbpf's own log so
that a load failure can say why (the verifier's last lines). Every ctypes pointer and cast
stays inside this module; callers only see ``BpfObject``, ``RingBuffer``, ints and bytes. It
must NOT know any record layout or knob meaning (that is ``abi.py`` and ``sensor.py``), and it
must NOT decode records. Not thread-safe: one thread owns an object and its ring buffer.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import errno
import logging
import os
from pathlib import Path
from typing import Final

__all__ = [
    "BpfObject",
    "LibbpfError",
    "RingBuffer",
    "ensure_tracefs",
    "libbpf_log_tail",
    "missing_tracepoints",
    "needs_tracefs",
]

_log = logging.getLogger(__name__)

_LIBBPF_NAME: Final = "libbpf.so.1"
_BTF_KIND_DATASEC: Final = 15
_LOG_LINES: Final = 400
_TRACEFS_DIRS: Final = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
# Section prefixes whose attach goes through tracefs (event ids read from events/*/id).
_TRACEFS_SECTIONS: Final = ("tracepoint/", "tp/")

_c_void_pp = ctypes.POINTER(ctypes.c_void_p)
_SampleFn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_PrintFn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class LibbpfError(OSError):
    """A libbpf call failed; ``errno`` is set and ``log`` holds libbpf's recent messages."""

    def __init__(self, err: int, what: str, log: tuple[str, ...] = ()) -> None:
        super().__init__(err, f"{what}: {os.strerror(err) if err else 'failed'}")
        self.what = what
        self.log = log


class _BtfType(ctypes.Structure):
    _fields_ = (("name_off", ctypes.c_uint32), ("info", ctypes.c_uint32), ("size_or_type", ctypes.c_uint32))


class _BtfVarSecinfo(ctypes.Structure):
    _fields_ = (("type", ctypes.c_uint32), ("offset", ctypes.c_uint32), ("size", ctypes.c_uint32))


_lib: ctypes.CDLL | None = None
_log_lines: collections.deque[str] = collections.deque(maxlen=_LOG_LINES)
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.vsnprintf.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p)
_libc.vsnprintf.restype = ctypes.c_int
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p)
_libc.mount.restype = ctypes.c_int


# One buffer for every libbpf message: a verifier log arrives as one message of many KiB.
_print_buf = ctypes.create_string_buffer(1 << 18)


def _on_libbpf_print(level: int, fmt: bytes | None, args: int | None) -> int:
    buf = _print_buf
    _libc.vsnprintf(buf, len(buf), fmt, args)
    for line in buf.value.decode("utf-8", "replace").splitlines():
        if line.strip():
            _log_lines.append(line)
            _log.debug("libbpf message", extra={"libbpf_level": level, "libbpf_line": line})
    return 0


_print_cb = _PrintFn(_on_libbpf_print)  # kept alive for the process: libbpf holds it


def _setup(lib: ctypes.CDLL) -> None:
    vp, cp, i, u32, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_size_t
    sigs: dict[str, tuple[tuple[type, ...], type | None]] = {
        "libbpf_set_print": ((_PrintFn,), vp),
        "libbpf_num_possible_cpus": ((), i),
        "bpf_object__open_file": ((cp, vp), vp),
        "bpf_object__load": ((vp,), i),
        "bpf_object__close": ((vp,), None),
        "bpf_object__btf": ((vp,), vp),
        "bpf_object__find_map_by_name": ((vp, cp), vp),
        "bpf_object__next_map": ((vp, vp), vp),
        "bpf_object__next_program": ((vp, vp), vp),
        "bpf_map__name": ((vp,), cp),
        "bpf_map__fd": ((vp,), i),
        "bpf_map__set_max_entries": ((vp, u32), i),
        "bpf_map__initial_value": ((vp, ctypes.POINTER(sz)), vp),
        "bpf_map__value_size": ((vp,), u32),
        "bpf_map__lookup_elem": ((vp, vp, sz, vp, sz, ctypes.c_uint64), i),
        "bpf_program__name": ((vp,), cp),
        "bpf_program__section_name": ((vp,), cp),
        "bpf_program__attach": ((vp,), vp),
        "bpf_program__set_autoload": ((vp, ctypes.c_bool), i),
        "bpf_link__destroy": ((vp,), i),
        "btf__find_by_name_kind": ((vp, cp, u32), i),
        "btf__type_by_id": ((vp, u32), vp),
        "btf__name_by_offset": ((vp, u32), cp),
        "ring_buffer__new": ((i, _SampleFn, vp, vp), vp),
        "ring_buffer__poll": ((vp, i), i),
        "ring_buffer__consume": ((vp,), i),
        "ring_buffer__epoll_fd": ((vp,), i),
        "ring_buffer__free": ((vp,), None),
    }
    for name, (argtypes, restype) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype


def _libbpf() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL(_LIBBPF_NAME, use_errno=True)
        except OSError as exc:
            raise LibbpfError(
                errno.ENOENT, f"{_LIBBPF_NAME} not found ({exc}); install it: apt-get install libbpf1"
            ) from exc
        _setup(lib)
        lib.libbpf_set_print(_print_cb)
        _lib = lib
    return _lib


def libbpf_log_tail(lines: int = 40) -> tuple[str, ...]:
    """Return the last ``lines`` messages libbpf printed (verifier output on a failed load)."""
    return tuple(_log_lines)[-lines:]


def _fail(what: str, err: int | None = None) -> LibbpfError:
    code = ctypes.get_errno() if err is None else abs(err)
    return LibbpfError(code, what, libbpf_log_tail())


def needs_tracefs(sections: list[str]) -> bool:
    """Tell whether any program section attaches through tracefs (classic tracepoints).

    Args:
        sections: ELF section names of the programs, e.g. ``"tp_btf/sched_process_exec"``.

    Returns:
        True when at least one is a ``tracepoint/`` or ``tp/`` program.
    """
    return any(s.startswith(_TRACEFS_SECTIONS) for s in sections)


def missing_tracepoints(sections: list[str], tracefs: Path) -> set[str]:
    """The ``tracepoint/<category>/<event>`` sections whose event this kernel does not have."""
    missing: set[str] = set()
    for sec in sections:
        for prefix in _TRACEFS_SECTIONS:
            if sec.startswith(prefix):
                if not (tracefs / "events" / sec.removeprefix(prefix)).is_dir():
                    missing.add(sec)
                break
    return missing


def ensure_tracefs() -> Path:
    """Make tracefs available, mounting it at ``/sys/kernel/tracing`` if no copy is mounted.

    Returns:
        The tracefs directory that holds ``events/``.

    Raises:
        LibbpfError: tracefs is not mounted and mounting it failed; the message says what to run.
    """
    for d in _TRACEFS_DIRS:
        if (d / "events").is_dir():
            return d
    target = _TRACEFS_DIRS[0]
    if _libc.mount(b"tracefs", str(target).encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise LibbpfError(
            err,
            f"tracefs is not mounted and mounting it failed: run `mount -t tracefs tracefs {target}` as root",
        )
    return target


class RingBuffer:
    """A libbpf ring-buffer consumer that collects each record as ``bytes``, in bounded batches.

    Records are copied out of the ring inside libbpf's callback, which does nothing else (it
    cannot raise); once a batch holds ``max_batch`` records the callback stops libbpf, and the
    rest stays in the ring for the next call.
    """

    def __init__(self, map_fd: int, max_batch: int = 1024) -> None:
        """Attach a consumer to the ring-buffer map ``map_fd``.

        Raises:
            LibbpfError: ``ring_buffer__new`` failed.
        """
        self._lib = _libbpf()
        self._pending: list[bytes] = []
        self._limit = [max(1, max_batch)]
        pending, limit, string_at = self._pending, self._limit, ctypes.string_at
        stop = -errno.EAGAIN

        def on_sample(_ctx: int | None, data: int | None, size: int) -> int:
            pending.append(string_at(data or 0, size))
            return stop if len(pending) >= limit[0] else 0

        self._cb = _SampleFn(on_sample)  # kept alive as long as the ring buffer
        ptr = self._lib.ring_buffer__new(map_fd, self._cb, None, None)
        if not ptr:
            raise _fail("ring_buffer__new")
        self._rb: int | None = ptr
        self._max_batch = max(1, max_batch)

    @property
    def epoll_fd(self) -> int:
        """The epoll descriptor that becomes readable when the kernel forces a wakeup."""
        return int(self._lib.ring_buffer__epoll_fd(self._handle()))

    def _handle(self) -> int:
        if self._rb is None:
            raise LibbpfError(errno.EBADF, "ring buffer is closed")
        return self._rb

    def consume(self, limit: int | None = None) -> list[bytes]:
        """Take the records in the ring now, without waiting, at most ``limit`` (default ``max_batch``).

        Returns:
            The records in ring order; an empty list when the ring is empty.

        Raises:
            LibbpfError: ``ring_buffer__consume`` failed.
        """
        self._limit[0] = self._max_batch if limit is None else max(1, limit)
        rc = self._lib.ring_buffer__consume(self._handle())
        if rc < 0 and -rc != errno.EAGAIN:
            raise _fail("ring_buffer__consume", rc)
        return self._take()

    def wait(self, timeout_ms: int) -> list[bytes]:
        """Sleep until the kernel forces a wakeup or ``timeout_ms`` passes, then take what came.

        The GIL is released while waiting. Records written with ``BPF_RB_NO_WAKEUP`` do not end
        the wait; they are taken by the next ``consume``. At most ``max_batch`` records.

        Raises:
            LibbpfError: ``ring_buffer__poll`` failed (EINTR is not an error).
        """
        self._limit[0] = self._max_batch
        rc = self._lib.ring_buffer__poll(self._handle(), max(0, timeout_ms))
        if rc < 0 and -rc not in (errno.EINTR, errno.EAGAIN):
            raise _fail("ring_buffer__poll", rc)
        return self._take()

    def _take(self) -> list[bytes]:
        if not self._pending:
            return []
        out = self._pending[:]
        self._pending.clear()
        return out

    def close(self) -> None:
        """Free the consumer; safe to call twice."""
        if self._rb is not None:
            self._lib.ring_buffer__free(self._rb)
            self._rb = None


class BpfObject:
    """One BPF object file through its life: open → configure → load → attach → close."""

    def __init__(self, path: Path) -> None:
        """Open (parse, not load) the object at ``path``.

        Raises:
            LibbpfError: libbpf is missing or the file is not a usable BPF object.
        """
        self._lib = _libbpf()
        ptr = self._lib.bpf_object__open_file(str(path).encode(), None)
        if not ptr:
            raise _fail(f"opening BPF object {path}")
        self._obj: int | None = ptr
        self._links: list[int] = []
        self._disabled: set[str] = set()
        self.path = path

    def _handle(self) -> int:
        if self._obj is None:
            raise LibbpfError(errno.EBADF, "BPF object is closed")
        return self._obj

    def _programs(self) -> list[int]:
        out: list[int] = []
        prog = self._lib.bpf_object__next_program(self._handle(), None)
        while prog:
            out.append(prog)
            prog = self._lib.bpf_object__next_program(self._handle(), prog)
        return out

    def _map(self, name: str) -> int:
        m = self._lib.bpf_object__find_map_by_name(self._handle(), name.encode())
        if not m:
            raise LibbpfError(errno.ENOENT, f"map {name!r} not found in {self.path}")
        return int(m)

    def program_sections(self) -> list[str]:
        """Return the ELF section name of every program (``"tp_btf/sched_process_exec"``, …)."""
        return [(self._lib.bpf_program__section_name(p) or b"").decode() for p in self._programs()]

    def disable_programs(self, sections: set[str]) -> list[str]:
        """Do not load or attach the programs whose section is in ``sections`` (before load).

        Returns:
            The names of the programs disabled.

        Raises:
            LibbpfError: the object is already loaded.
        """
        names: list[str] = []
        for prog in self._programs():
            if (self._lib.bpf_program__section_name(prog) or b"").decode() in sections:
                rc = self._lib.bpf_program__set_autoload(prog, False)
                if rc < 0:
                    raise _fail("disabling a program", rc)
                names.append((self._lib.bpf_program__name(prog) or b"?").decode())
        self._disabled.update(names)
        return names

    def set_max_entries(self, map_name: str, entries: int) -> None:
        """Resize a map before load (for a ring buffer: its size in bytes, a power-of-two pages).

        Raises:
            LibbpfError: unknown map, or the object is already loaded.
        """
        rc = self._lib.bpf_map__set_max_entries(self._map(map_name), entries)
        if rc < 0:
            raise _fail(f"resizing map {map_name!r} to {entries}", rc)

    def _rodata_var(self, var: str) -> tuple[int, int, int]:
        """Find ``var`` in the object's ``.rodata``: (map handle, offset, size)."""
        btf = self._lib.bpf_object__btf(self._handle())
        if not btf:
            raise LibbpfError(errno.ENOENT, f"{self.path} has no BTF")
        sec_id = self._lib.btf__find_by_name_kind(btf, b".rodata", _BTF_KIND_DATASEC)
        if sec_id < 0:
            raise LibbpfError(errno.ENOENT, f"{self.path} has no .rodata section")
        sec = _BtfType.from_address(self._lib.btf__type_by_id(btf, sec_id))
        infos = (_BtfVarSecinfo * (sec.info & 0xFFFF)).from_address(
            self._lib.btf__type_by_id(btf, sec_id) + ctypes.sizeof(_BtfType)
        )
        for info in infos:
            vt = _BtfType.from_address(self._lib.btf__type_by_id(btf, info.type))
            if (self._lib.btf__name_by_offset(btf, vt.name_off) or b"").decode() == var:
                return self._rodata_map(), int(info.offset), int(info.size)
        raise LibbpfError(errno.ENOENT, f"variable {var!r} not found in .rodata of {self.path}")

    def _rodata_map(self) -> int:
        m = self._lib.bpf_object__next_map(self._handle(), None)
        while m:
            if (self._lib.bpf_map__name(m) or b"").endswith(b".rodata"):
                return int(m)
            m = self._lib.bpf_object__next_map(self._handle(), m)
        raise LibbpfError(errno.ENOENT, f"no .rodata map in {self.path}")

    def _rodata_view(self, var: str) -> ctypes.Array[ctypes.c_char]:
        rmap, off, size = self._rodata_var(var)
        total = ctypes.c_size_t(0)
        base = self._lib.bpf_map__initial_value(rmap, ctypes.byref(total))
        if not base or off + size > total.value:
            raise LibbpfError(errno.EINVAL, f"initial value of {var!r} is not accessible")
        return (ctypes.c_char * size).from_address(base + off)

    def read_rodata(self, var: str) -> bytes:
        """Return the current bytes of the ``const volatile`` global ``var`` (before load).

        Raises:
            LibbpfError: no such variable.
        """
        return bytes(self._rodata_view(var).raw)

    def write_rodata(self, var: str, value: bytes) -> None:
        """Set the ``const volatile`` global ``var`` to ``value`` (exactly its size); before load.

        Raises:
            LibbpfError: no such variable, or ``value`` has the wrong size.
        """
        view = self._rodata_view(var)
        if len(value) != len(view):
            raise LibbpfError(errno.EINVAL, f"{var!r} is {len(view)} bytes, got {len(value)}")
        ctypes.memmove(view, value, len(value))

    def load(self) -> None:
        """Relocate (CO-RE), verify and load every program and map.

        Raises:
            LibbpfError: the kernel refused; ``log`` holds the verifier's output.
        """
        _log_lines.clear()
        rc = self._lib.bpf_object__load(self._handle())
        if rc < 0:
            raise _fail(f"loading {self.path}", rc)

    def attach_all(self) -> None:
        """Attach every program at the hook its section names, keeping the links.

        Raises:
            LibbpfError: a program could not be attached (the links made so far are kept until
                ``close``).
        """
        for prog in self._programs():
            if (self._lib.bpf_program__name(prog) or b"").decode() in self._disabled:
                continue
            link = self._lib.bpf_program__attach(prog)
            if not link:
                name = (self._lib.bpf_program__name(prog) or b"?").decode()
                raise _fail(f"attaching program {name}")
            self._links.append(int(link))

    def map_fd(self, map_name: str) -> int:
        """Return the file descriptor of a loaded map."""
        fd = int(self._lib.bpf_map__fd(self._map(map_name)))
        if fd < 0:
            raise LibbpfError(-fd, f"map {map_name!r} has no fd (not loaded?)")
        return fd

    def percpu_u64(self, map_name: str, key: int) -> list[int]:
        """Read the per-CPU ``u64`` values at ``key`` of a per-CPU array map.

        Returns:
            One value per possible CPU.

        Raises:
            LibbpfError: the look-up failed.
        """
        ncpu = int(self._lib.libbpf_num_possible_cpus())
        if ncpu <= 0:
            raise LibbpfError(-ncpu, "libbpf_num_possible_cpus")
        values = (ctypes.c_uint64 * ncpu)()
        k = ctypes.c_uint32(key)
        rc = self._lib.bpf_map__lookup_elem(
            self._map(map_name), ctypes.byref(k), 4, values, ctypes.sizeof(values), 0
        )
        if rc < 0:
            raise _fail(f"reading {map_name}[{key}]", rc)
        return [int(v) for v in values]

    def close(self) -> None:
        """Detach every link and free the object; safe to call twice."""
        for link in self._links:
            self._lib.bpf_link__destroy(link)
        self._links.clear()
        if self._obj is not None:
            self._lib.bpf_object__close(self._obj)
            self._obj = None
