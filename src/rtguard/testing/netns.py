"""Network namespaces for tests: ``ip netns`` plus a veth pair, always cleaned up.

``NetNamespace`` creates a named namespace (usable by runc through ``path``) with ``lo`` up
and a veth pair whose inner end ``eth0`` sits in the namespace and whose outer end sits either
in the host's namespace or in another ``NetNamespace`` (to build a closed two-namespace
network, e.g. a client and a "remote" server on a documentation address). Test traffic must
stay inside what the test built (DESIGN §6): addresses are auto-allocated from ``10.213.0.0/16``
as /24s not used by any address in the host namespace, and the only route added in the host
namespace is the kernel's connected route for the veth's own /24. Never route the
documentation ranges in the host namespace: on our machines ``192.0.2.0/24`` is the real uplink.
Needs root and ``iproute2``; must not touch interfaces or namespaces it did not create, and
production code must never import it.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Self

__all__ = [
    "AUTO_SUBNET_POOL",
    "NetNamespace",
    "NetnsError",
]

AUTO_SUBNET_POOL: Final = ipaddress.IPv4Network("10.213.0.0/16")
_LOCK_PATH: Final = "/run/rtguard-netns.lock"
_NETNS_DIR: Final = Path("/var/run/netns")
_NAME_OK: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}")


class NetnsError(RuntimeError):
    """An ``ip`` command failed; the message carries its error output."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            ["ip", *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=30, check=False
        )
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network configured on an interface of the host namespace."""
    result = _ip("-4", "-o", "addr", "show", check=False)
    used: list[ipaddress.IPv4Network] = []
    for line in result.stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            with contextlib.suppress(ValueError, IndexError):
                used.append(ipaddress.IPv4Interface(fields[fields.index("inet") + 1]).network)
    return used


def _free_subnet() -> ipaddress.IPv4Network:
    used = _used_networks()
    taken = {n for n in AUTO_SUBNET_POOL.subnets(new_prefix=24) if any(n.overlaps(u) for u in used)}
    start = int.from_bytes(os.urandom(1), "big")
    candidates = list(AUTO_SUBNET_POOL.subnets(new_prefix=24))[1:-1]
    for i in range(len(candidates)):
        subnet = candidates[(start + i) % len(candidates)]
        if subnet not in taken:
            return subnet
    raise NetnsError(f"no free /24 left in {AUTO_SUBNET_POOL}: remove stale rtg* veths")


class NetNamespace:
    """A network namespace with a veth link to the host (or to another ``NetNamespace``).

    Args:
        name: the ``ip netns`` name (default: unique ``rtg<pid>-<hex>``).
        address: the inner end's address with prefix (``10.213.7.2/24``); auto when None.
        peer_address: the outer end's address (``10.213.7.1/24``); auto when None.
        peer: put the outer end into this namespace instead of the host's.
        default_route: route everything from inside via ``peer_address``. With the host as
            peer, packets for other addresses die there (the host does not forward).

    Use as a context manager; ``close`` always removes the namespace and the outer veth end.
    Not thread-safe.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        address: str | None = None,
        peer_address: str | None = None,
        peer: NetNamespace | None = None,
        default_route: bool = True,
    ) -> None:
        tag = os.urandom(3).hex()
        self.name = name or f"rtg{os.getpid()}-{tag}"
        if not _NAME_OK.fullmatch(self.name):
            raise ValueError(f"invalid namespace name {self.name!r}")
        self.outer_if = f"rtgv{tag}"
        self.inner_if = "eth0"
        self._address_arg = address
        self._peer_address_arg = peer_address
        self.peer = peer
        self._default_route = default_route
        self.address = ""
        self.peer_address = ""
        self._created = False
        self._closed = False

    @property
    def path(self) -> str:
        """``/var/run/netns/<name>``: what runc's ``network`` namespace ``path`` wants."""
        return str(_NETNS_DIR / self.name)

    @property
    def ip(self) -> str:
        """The inner end's address without prefix (what the host or peer connects to)."""
        return self.address.split("/")[0]

    @property
    def peer_ip(self) -> str:
        """The outer end's address without prefix (what the namespace connects to)."""
        return self.peer_address.split("/")[0]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> Self:
        """Create the namespace and the link; clean up on any failure."""
        if self._created:
            raise NetnsError(f"namespace {self.name} was already started")
        try:
            with open(_LOCK_PATH, "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._assign_addresses()
                self._created = True
                _ip("netns", "add", self.name)
                self._setup_link()
        except BaseException:
            with contextlib.suppress(NetnsError):
                self.close()
            raise
        return self

    def _assign_addresses(self) -> None:
        if self._address_arg and self._peer_address_arg:
            self.address, self.peer_address = self._address_arg, self._peer_address_arg
            return
        if self._address_arg or self._peer_address_arg:
            raise ValueError("give both address and peer_address, or neither")
        subnet = _free_subnet()
        hosts = list(subnet.hosts())
        self.peer_address = f"{hosts[0]}/{subnet.prefixlen}"
        self.address = f"{hosts[1]}/{subnet.prefixlen}"

    def _setup_link(self) -> None:
        _ip("-n", self.name, "link", "set", "lo", "up")
        _ip("link", "add", self.outer_if, "type", "veth", "peer", "name", f"rtgi{self.outer_if[4:]}")
        _ip("link", "set", f"rtgi{self.outer_if[4:]}", "netns", self.name)
        _ip("-n", self.name, "link", "set", f"rtgi{self.outer_if[4:]}", "name", self.inner_if)
        _ip("-n", self.name, "addr", "add", self.address, "dev", self.inner_if)
        _ip("-n", self.name, "link", "set", self.inner_if, "up")
        if self.peer is not None:
            _ip("link", "set", self.outer_if, "netns", self.peer.name)
        outer = ["-n", self.peer.name] if self.peer is not None else []
        _ip(*outer, "addr", "add", self.peer_address, "dev", self.outer_if)
        _ip(*outer, "link", "set", self.outer_if, "up")
        if self._default_route:
            _ip("-n", self.name, "route", "add", "default", "via", self.peer_ip)

    def add_address(self, cidr: str, *, dev: str = "lo") -> None:
        """Give the namespace another address (e.g. ``203.0.113.7/32`` for a "remote" server).

        Only inside this namespace: nothing changes in the host's routing.
        """
        _ip("-n", self.name, "addr", "add", cidr, "dev", dev)

    def add_route(self, destination: str, *, via: str) -> None:
        """Add a route inside this namespace."""
        _ip("-n", self.name, "route", "add", destination, "via", via)

    def command(self, args: Sequence[str]) -> list[str]:
        """``args`` prefixed to run inside the namespace (``ip netns exec <name> ...``)."""
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, args: Sequence[str], *, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace and capture its output (through files)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                self.command(args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                timeout=timeout,
                check=False,
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                list(args),
                proc.returncode,
                out.read().decode(errors="replace"),
                err.read().decode(errors="replace"),
            )

    def close(self) -> None:
        """Delete the namespace (its veth end goes with it) and the outer end. Idempotent.

        Raises:
            NetnsError: when something could not be removed, after trying everything.
        """
        if self._closed or not self._created:
            self._closed = True
            return
        self._closed = True
        errors: list[str] = []
        outer = ["-n", self.peer.name] if self.peer is not None else []
        if self.peer is None or Path(self.peer.path).exists():
            result = _ip(*outer, "link", "del", self.outer_if, check=False)
            if result.returncode != 0 and "Cannot find device" not in result.stderr:
                errors.append(result.stderr.strip())
        result = _ip("netns", "del", self.name, check=False)
        if result.returncode != 0 and Path(self.path).exists():
            errors.append(result.stderr.strip())
        if errors:
            raise NetnsError(f"cleanup of namespace {self.name} incomplete: " + "; ".join(errors))
