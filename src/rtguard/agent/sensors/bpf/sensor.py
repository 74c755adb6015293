"""``BpfSensor``: the eBPF sensor (process lifecycle and runtime events) behind the ``Sensor`` protocol.

It finds the CO-RE object (``RTGUARD_BPF_OBJECT``, else ``rtguard.bpf.o`` next to this file),
checks what the host offers, sets the kernel knobs, loads and attaches the programs through
``libbpf.py``, then drains the ring buffer in bounded batches on the caller's timer (the kernel
writes without waking us, so an exec storm costs ~1% instead of ~11%) and decodes with
``decode.py``. Every record lost in the kernel (ring full) or in decoding is counted by reason.
It must NOT enrich records (no /proc look-ups, no container or user names: that is
``rtguard.agent.enrich``), must NOT hold records beyond one batch, and must NOT call libbpf
except through ``libbpf.py``. Not thread-safe: one thread starts, polls and closes it.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
from pathlib import Path
from typing import Final

from rtguard.agent.sensors.bpf import abi, ringbuf
from rtguard.agent.sensors.bpf.decode import DecodeError, decode
from rtguard.agent.sensors.bpf.libbpf import (
    BpfObject,
    LibbpfError,
    RingBuffer,
    ensure_tracefs,
    missing_tracepoints,
    needs_tracefs,
)
from rtguard.agent.sensors.bpf.ringbuf import MmapRingBuffer
from rtguard.agent.sensors.records import Record, SensorStats, SensorUnavailable

__all__ = [
    "DEFAULT_FILE_PREFIXES",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_RING_BYTES",
    "ENV_BPF_OBJECT",
    "BpfSensor",
    "default_object_path",
]

_log = logging.getLogger(__name__)

ENV_BPF_OBJECT: Final = "RTGUARD_BPF_OBJECT"
DEFAULT_RING_BYTES: Final = 4 << 20  # ~2 s of a tight exec storm; mapped once (ringbuf.py)
DEFAULT_MAX_BATCH: Final = 1024
_BTF_VMLINUX: Final = Path("/sys/kernel/btf/vmlinux")
_RING_MAP: Final = "rtg_events"
_COUNTERS_MAP: Final = "rtg_counters"
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")
# Capability bits (linux/capability.h) that let a process load tracing programs.
_CAP_SYS_ADMIN: Final = 21
_CAP_PERFMON: Final = 38
_CAP_BPF: Final = 39
_NEXT_STEP: Final = "or use `rtguard agent --sensor procfs`"

# File changes the kernel reports (writes, renames, links, unlinks, exec-bit chmods) when their
# path, as the process sees it, starts with one of these. Writes to /proc/<pid>/mem are always
# reported. At most abi.PREFIX_SLOTS prefixes of < abi.PREFIX_LEN bytes.
DEFAULT_FILE_PREFIXES: Final = (
    "/etc/",
    "/bin/",
    "/sbin/",
    "/usr/",
    "/lib",
    "/boot/",
    "/root/",
    "/home/",
    "/var/spool/cron",
    "/var/log/",
    "/tmp/",
    "/dev/shm/",
    "/var/tmp/",
    "/run/",
    "/var/run/",
    "/sys/fs/cgroup/",
    # where applications and what their installers write live in many images
    "/opt/",
    "/srv/",
    "/app/",
)

ENV_DISABLE: Final = "RTGUARD_BPF_DISABLE"


def _disabled_by_env(sections: list[str] | set[str] | tuple[str, ...]) -> set[str]:
    """Sections named in ``$RTGUARD_BPF_DISABLE`` (comma-separated; the last path part suffices),
    e.g. ``sys_enter_read,sys_exit_read`` to measure or avoid the system-wide read/write hooks."""
    wanted = {w.strip() for w in os.environ.get(ENV_DISABLE, "").split(",") if w.strip()}
    return {s for s in sections if s in wanted or s.rsplit("/", 1)[-1] in wanted}


# Kernels without module support have no (f)init_module syscall tracepoints: module load attempts
# are then seen by ``rtg_sys_enter`` (raw_syscalls sys_enter, filtered on the syscall id), which is
# loaded only in that case.
_MODULE_EVENTS: Final = frozenset({"sys_enter_finit_module", "sys_enter_init_module"})
_MODULE_FALLBACK: Final = "tp_btf/sys_enter"


def default_object_path() -> Path:
    """Where the object is looked for: ``$RTGUARD_BPF_OBJECT``, else next to this module."""
    env = os.environ.get(ENV_BPF_OBJECT)
    return Path(env) if env else Path(__file__).with_name("rtguard.bpf.o")


def _counter_key(c: abi.Counter) -> str:
    return c.name.lower().removeprefix("lost_")


def _can_load_bpf() -> tuple[bool, str]:
    """Whether this process holds CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON (effective)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            line = next((ln for ln in f if ln.startswith("CapEff:")), "CapEff: 0")
    except OSError:
        return os.geteuid() == 0, "unknown"
    eff = int(line.split()[1], 16)
    admin = bool(eff >> _CAP_SYS_ADMIN & 1)
    bpf_perfmon = bool(eff >> _CAP_BPF & 1) and bool(eff >> _CAP_PERFMON & 1)
    return admin or bpf_perfmon, f"{eff:016x}"


class BpfSensor:
    """The eBPF sensor. ``name`` is ``"ebpf"``.

    Construct cheaply, then ``start()``; ``poll()`` as often as the wanted latency (e.g. every
    50-100 ms), ``stats()`` any time, and ``close()`` always.
    """

    name = "ebpf"

    def __init__(
        self,
        *,
        object_path: Path | None = None,
        ring_bytes: int = DEFAULT_RING_BYTES,
        max_args_bytes: int = abi.ARGS_MAX,
        wakeup_bytes: int | None = None,
        ignore_self: bool = True,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_env_bytes: int = abi.ENV_MAX,
        file_prefixes: tuple[str, ...] = DEFAULT_FILE_PREFIXES,
    ) -> None:
        """Configure the sensor; nothing is opened until ``start``.

        Args:
            object_path: the BPF object; default ``default_object_path()``.
            ring_bytes: ring-buffer size, a power of two and a multiple of the page size.
                It counts twice in RSS (the kernel maps the data pages twice, pre-populated):
                the 2 MiB default adds ~4 MB; 8 MiB would add ~16 MB of the 40 MB budget.
            max_args_bytes: bytes of the argv area copied per exec (1..``abi.ARGS_MAX``);
                longer command lines are cut and flagged ``argv_truncated``.
            wakeup_bytes: the kernel wakes a waiting ``poll`` early once the ring holds this
                many bytes; default a quarter of the ring; 0 never wakes (pure timer draining).
            ignore_self: do not report this process's own exec and exit.
            max_batch: most records one ``poll`` returns; the rest stay in the ring for the next.
            max_env_bytes: bytes of the environment copied per exec (0..``abi.ENV_MAX``), from
                which LD_PRELOAD and LD_LIBRARY_PATH are taken.
            file_prefixes: file changes are reported only under these path prefixes (an empty
                tuple reports every path); at most ``abi.PREFIX_SLOTS`` of < ``abi.PREFIX_LEN``
                bytes.

        Raises:
            ValueError: a size is out of range.
        """
        if not 0 <= max_env_bytes <= abi.ENV_MAX:
            raise ValueError(f"max_env_bytes must be in 0..{abi.ENV_MAX}: {max_env_bytes}")
        if len(file_prefixes) > abi.PREFIX_SLOTS or any(
            not p or len(p.encode()) >= abi.PREFIX_LEN for p in file_prefixes
        ):
            raise ValueError(
                f"file_prefixes: at most {abi.PREFIX_SLOTS} non-empty prefixes of < {abi.PREFIX_LEN} bytes"
            )
        self._max_env = max_env_bytes
        self._prefixes = tuple(file_prefixes)
        self._blind: list[str] = []
        if ring_bytes < _PAGE or ring_bytes & (ring_bytes - 1) or ring_bytes % _PAGE:
            raise ValueError(f"ring_bytes must be a power of two and a multiple of {_PAGE}: {ring_bytes}")
        if not 1 <= max_args_bytes <= abi.ARGS_MAX:
            raise ValueError(f"max_args_bytes must be in 1..{abi.ARGS_MAX}: {max_args_bytes}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be positive: {max_batch}")
        self._path = object_path or default_object_path()
        self._ring_bytes = ring_bytes
        self._max_args = max_args_bytes
        self._wakeup = ring_bytes // 4 if wakeup_bytes is None else max(0, wakeup_bytes)
        self._ignore_tgid = os.getpid() if ignore_self else 0
        self._max_batch = max_batch
        self._obj: BpfObject | None = None
        self._ring: RingBuffer | MmapRingBuffer | None = None
        self._delivered = 0
        self._backlog = False  # the last poll took a full batch: more may be waiting
        self._decode_errors: collections.Counter[tuple[str, int]] = collections.Counter()
        self._last_kernel: dict[str, int] = {_counter_key(c): 0 for c in abi.Counter}

    def blind_spots(self) -> list[str]:
        """What this sensor cannot see on this kernel (empty when it sees every event class)."""
        return list(self._blind)

    @property
    def object_path(self) -> Path:
        """The BPF object this sensor loads."""
        return self._path

    def start(self) -> None:
        """Open, configure, load and attach the programs, and open the ring buffer.

        Raises:
            SensorUnavailable: eBPF cannot run here; the message says why and what to do.
        """
        if self._obj is not None:
            return
        self._preflight()
        try:
            self._obj = BpfObject(self._path)
            self._check_abi(self._obj)
            self._configure(self._obj)
            sections = self._obj.program_sections()
            missing: set[str] = set()
            if needs_tracefs(sections):
                missing = missing_tracepoints(sections, ensure_tracefs())
                self._obj.disable_programs(missing)
            module_missing = {m for m in missing if m.rsplit("/", 1)[-1] in _MODULE_EVENTS}
            if not module_missing:
                self._obj.disable_programs({_MODULE_FALLBACK})
            self._blind = sorted(f"{m}: missing on this kernel" for m in missing - module_missing)
            off = _disabled_by_env(sections)
            if off:
                self._obj.disable_programs(off)
                self._blind = sorted(
                    {*self._blind, *(f"{m.rsplit('/', 1)[-1]}: disabled by {ENV_DISABLE}" for m in off)}
                )
            self._obj.load()
            self._obj.attach_all()
            ring_fd = self._obj.map_fd(_RING_MAP)
            self._ring = (
                MmapRingBuffer(ring_fd, self._ring_bytes, max_batch=self._max_batch)
                if ringbuf.available()
                else RingBuffer(ring_fd, max_batch=self._max_batch)
            )
        except LibbpfError as exc:
            self.close()
            raise SensorUnavailable(self._explain(exc)) from exc
        except SensorUnavailable:
            self.close()
            raise
        _log.info(
            "bpf sensor started",
            extra={"object": str(self._path), "ring_bytes": self._ring_bytes, "abi": abi.ABI_VERSION},
        )

    def _preflight(self) -> None:
        if not self._path.is_file():
            raise SensorUnavailable(
                f"eBPF object not found at {self._path}: run `make bpf` in the rtguard checkout, "
                f"or set {ENV_BPF_OBJECT} to a built rtguard.bpf.o, {_NEXT_STEP}"
            )
        ok, caps = _can_load_bpf()
        if not ok:
            raise SensorUnavailable(
                f"loading eBPF needs root (CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON; CapEff={caps}): "
                f"run the agent as root, {_NEXT_STEP}"
            )
        if not _BTF_VMLINUX.exists():
            raise SensorUnavailable(
                f"this kernel has no BTF ({_BTF_VMLINUX} is missing; CONFIG_DEBUG_INFO_BTF=y is needed "
                f"for CO-RE): {_NEXT_STEP}"
            )

    def _check_abi(self, obj: BpfObject) -> None:
        code = int.from_bytes(obj.read_rodata("rtg_abi_version"), "little")
        major, minor, patch = code >> 16, (code >> 8) & 0xFF, code & 0xFF
        if major != abi.ABI_MAJOR:
            raise SensorUnavailable(
                f"{self._path} was built for record ABI {major}.{minor}.{patch}, this agent reads "
                f"{abi.ABI_VERSION}: rebuild it with `make bpf` from the same checkout"
            )
        if (minor, patch) != (abi.ABI_MINOR, abi.ABI_PATCH):
            _log.warning(
                "bpf object ABI differs in minor or patch",
                extra={"object_abi": f"{major}.{minor}.{patch}", "agent_abi": abi.ABI_VERSION},
            )

    def _configure(self, obj: BpfObject) -> None:
        cfg = abi.RtgConfig(
            ignore_tgid=self._ignore_tgid,
            max_args_bytes=self._max_args,
            wakeup_bytes=self._wakeup,
            max_env_bytes=self._max_env,
            prefix_count=len(self._prefixes),
        )
        # Byte-exact copies: a ctypes char-array assignment would stop at the first NUL.
        lens = bytes(len(p.encode()) for p in self._prefixes)
        table = b"".join(p.encode().ljust(abi.PREFIX_LEN, b"\0") for p in self._prefixes)
        ctypes.memmove(ctypes.addressof(cfg) + abi.RtgConfig.prefix_len.offset, lens, len(lens))
        ctypes.memmove(ctypes.addressof(cfg) + abi.RtgConfig.prefixes.offset, table, len(table))
        obj.write_rodata("rtg_cfg", bytes(cfg))
        obj.set_max_entries(_RING_MAP, self._ring_bytes)

    def _explain(self, exc: LibbpfError) -> str:
        msg = f"eBPF sensor could not start: {exc}"
        if exc.log:
            msg += "\nlibbpf said:\n  " + "\n  ".join(exc.log[-60:])
        if exc.errno == 1:  # EPERM
            msg += (
                "\nthe kernel refused (EPERM): check that the agent runs as root in the host's user "
                f"namespace and that no LSM or lockdown policy forbids BPF, {_NEXT_STEP}"
            )
        return msg

    def poll(self, timeout_ms: int) -> list[Record]:
        """Wait for a timer's worth of records, then drain up to ``max_batch`` of them.

        Records are written without waking the consumer, so a call sleeps ``timeout_ms`` and
        returns what arrived meanwhile, or returns earlier when the kernel forces a wakeup
        because the ring is filling up. It does not wait while a backlog remains (the last
        call returned a full batch): a busy host is drained in large batches at the rate it
        produces, an idle one is visited once per ``timeout_ms``.

        Args:
            timeout_ms: the longest wait; 0 drains what is there at once.

        Returns:
            Decoded records in the order the kernel wrote them into the one ring (so a
            process's fork, exec and exit come in causal order; ``ktime`` across CPUs may be
            off by a few µs). Empty when nothing came. Records that failed to decode are
            counted, not returned.

        Raises:
            SensorUnavailable: the sensor is not started or is closed.
        """
        ring = self._ring
        if ring is None:
            raise SensorUnavailable("the eBPF sensor is not started")
        try:
            if self._backlog or timeout_ms <= 0:
                raw = ring.consume()
            else:
                raw = ring.wait(timeout_ms)
                if len(raw) < self._max_batch:
                    raw += ring.consume(self._max_batch - len(raw))
        except LibbpfError as exc:
            raise SensorUnavailable(f"reading the eBPF ring buffer failed: {exc}") from exc
        self._backlog = len(raw) >= self._max_batch
        out: list[Record] = []
        for item in map(decode, raw):
            if isinstance(item, DecodeError):
                self._count_decode_error(item)
            else:
                out.append(item)
        self._delivered += len(out)
        return out

    def _count_decode_error(self, err: DecodeError) -> None:
        self._decode_errors[(err.kind.value, err.op)] += 1
        _log.debug(
            "bpf record not decoded",
            extra={"kind": err.kind.value, "op": err.op, "size": err.size, "detail": err.detail},
        )

    def kernel_counters(self) -> dict[str, int]:
        """Sum the kernel's per-CPU counters (``rtg_counters``): lost, emitted, forced wakeups.

        Returns:
            ``{"ringbuf_full": …, "emitted": …, "wakeups": …}``; zeros before ``start``, the
            last values after ``close``.
        """
        obj = self._obj
        if obj is not None and self._ring is not None:
            for c in abi.Counter:
                try:
                    self._last_kernel[_counter_key(c)] = sum(obj.percpu_u64(_COUNTERS_MAP, c.value))
                except LibbpfError as exc:
                    _log.warning("bpf counter unreadable", extra={"counter": c.name, "error": str(exc)})
        return dict(self._last_kernel)

    def decode_errors(self) -> dict[tuple[str, int], int]:
        """Records that failed to decode, by ``(kind, op)``."""
        return dict(self._decode_errors)

    def stats(self) -> SensorStats:
        """Records delivered by ``poll``, records lost by reason (``ringbuf_full``; ``ringbuf_busy``:
        the ring had room but refused the record and its retry; ``pending_full``, ``decode_error``),
        write-opens the kernel coalesced (``coalesced``, not a loss), and the ring's refusals
        delivered by the retry and forced consumer wakeups (diagnostics, not losses)."""
        kc = self.kernel_counters()
        return SensorStats(
            records=self._delivered,
            lost={
                "ringbuf_full": kc["ringbuf_full"],
                "ringbuf_busy": kc["ringbuf_busy"],
                "pending_full": kc["pending_full"],
                "decode_error": sum(self._decode_errors.values()),
            },
            coalesced=kc["coalesced"],
            ring_retried=kc["retried"],
            ring_wakeups=kc["wakeups"],
        )

    def close(self) -> None:
        """Detach the programs and free the ring and the object; safe to call twice."""
        if self._ring is not None:
            self.kernel_counters()  # keep the final values for stats() after close
            self._ring.close()
            self._ring = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None

    def __enter__(self) -> BpfSensor:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
