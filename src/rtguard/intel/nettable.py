"""A table of IP networks for constant-time address look-ups.

Networks are kept per (IP version, prefix length) in a hash table keyed by the network's
integer value, so a look-up costs one masked dictionary probe per prefix length in use (at
most 33 for IPv4, 129 for IPv6; in practice a handful), whatever the number of entries. The
most specific (longest) prefix wins. Pure data structure; no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["IPAddress", "IPNetwork", "NetworkTable", "parse_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_T = TypeVar("_T")


def parse_address(text: str) -> IPAddress | None:
    """The address in ``text`` (surrounding spaces ignored), or None when it is not one."""
    if len(text) > 64:
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class NetworkTable(Generic[_T]):
    """Networks → values. The first value added for a network is kept."""

    __slots__ = ("_by_prefix", "_order")

    def __init__(self) -> None:
        self._by_prefix: dict[tuple[int, int], dict[int, _T]] = {}
        self._order: dict[int, list[int]] = {4: [], 6: []}  # prefix lengths in use, longest first

    def add(self, network: IPNetwork | str, value: _T) -> None:
        """Add ``network`` (a network, or CIDR / address text; host bits are cleared)."""
        net = network if not isinstance(network, str) else ipaddress.ip_network(network, strict=False)
        key = (net.version, net.prefixlen)
        table = self._by_prefix.get(key)
        if table is None:
            table = self._by_prefix[key] = {}
            order = self._order[net.version]
            order.append(net.prefixlen)
            order.sort(reverse=True)
        table.setdefault(int(net.network_address), value)

    def find(self, address: IPAddress) -> _T | None:
        """The value of the most specific network holding ``address``, or None."""
        value, bits, version = int(address), address.max_prefixlen, address.version
        for prefix in self._order[version]:
            shift = bits - prefix
            found = self._by_prefix[(version, prefix)].get(value >> shift << shift)
            if found is not None:
                return found
        return None

    def __len__(self) -> int:
        return sum(len(t) for t in self._by_prefix.values())

    def items(self) -> Iterator[tuple[IPNetwork, _T]]:
        """Every (network, value); for inspection and tests, not for look-ups."""
        for (version, prefix), table in self._by_prefix.items():
            for value, item in table.items():
                address = ipaddress.ip_address(value) if version == 4 else ipaddress.IPv6Address(value)
                yield ipaddress.ip_network(f"{address}/{prefix}"), item
