"""The built-in threat-intelligence feed (``builtin/feed.json``) and the DNS name normaliser.

The feed maps categories (C&C, crypto-currency, black hole, drop point, DGA, drive-by,
phishing, the four reputation categories, Tor nodes) to GuardDuty finding types. Every entry
shipped is a TEST entry: GuardDuty's harmless test domains (reference §9) and addresses from
the documentation ranges (RFC 5737); real feeds are users' ThreatIntelSets. Look-ups are pure:
domains by nearest listed parent (``a.b.example.com`` tries itself, then ``b.example.com``,
then ``example.com``), addresses exactly or by network. This module reads only its own data
file (once, on first use); it must not fetch anything, know about detectors or build findings.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

__all__ = [
    "FEED_PATH",
    "BuiltinFeed",
    "FeedCategory",
    "TorNode",
    "builtin_feed",
    "normalize_query_name",
    "parent_domains",
]

FEED_PATH: Final = Path(__file__).with_name("builtin") / "feed.json"
_MAX_INPUT: Final = 1024


def normalize_query_name(name: object) -> str | None:
    """A queried name in canonical form for matching, or None when it cannot be a domain.

    Canonical: surrounding whitespace and trailing dots removed, lower case, non-ASCII labels
    IDNA-encoded (``bücher.example`` → ``xn--bcher-kva.example``). None for anything that is not
    a string, is empty, longer than 253 characters, has an empty or over-long (>63) label, or
    holds characters no hostname has (whitespace, control characters, NUL).
    """
    if not isinstance(name, str) or len(name) > _MAX_INPUT:
        return None
    text = name.strip().rstrip(".")
    if not text:
        return None
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    text = text.lower()
    if len(text) > 253 or any(not c.isprintable() or c.isspace() for c in text):
        return None
    labels = text.split(".")
    if any(not label or len(label) > 63 for label in labels):
        return None
    return text


def parent_domains(name: str) -> list[str]:
    """``name`` then each parent domain, nearest first, stopping before the bare top label."""
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(max(len(labels) - 1, 1))]


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedCategory:
    """One category: the finding types it produces and the evidence it names."""

    category: str
    threat_list_name: str
    threat_names: tuple[str, ...]
    ip_type: str = ""
    dns_type: str = ""
    test: bool = False


@dataclass(frozen=True, slots=True)
class TorNode:
    """A listed Tor node: its role (``guard``, ``authority`` or ``relay``) and list name."""

    role: str
    threat_list_name: str


_IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


class BuiltinFeed:
    """The parsed feed. Immutable after construction; thread-safe."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._domains: dict[str, FeedCategory] = {}
        self._ips: dict[_IPNet, FeedCategory] = {}
        self._tor: dict[_IPNet, TorNode] = {}
        self.categories: tuple[FeedCategory, ...] = ()
        cats: list[FeedCategory] = []
        for raw in document.get("categories", ()):
            cat = FeedCategory(
                category=str(raw["category"]),
                threat_list_name=str(raw["threatListName"]),
                threat_names=tuple(str(n) for n in raw.get("threatNames", ())),
                ip_type=str(raw.get("ipType", "")),
                dns_type=str(raw.get("dnsType", "")),
                test=bool(raw.get("test", False)),
            )
            cats.append(cat)
            for domain in raw.get("domains", ()):
                norm = normalize_query_name(domain)
                if norm is None:
                    raise ValueError(f"feed: invalid domain {domain!r}")
                self._domains[norm] = cat
            for ip in raw.get("ips", ()):
                self._ips[ipaddress.ip_network(ip, strict=False)] = cat
        self.categories = tuple(cats)
        tor = document.get("tor") or {}
        tor_list = str(tor.get("threatListName", "tor"))
        for role, key in (("guard", "guards"), ("authority", "authorities"), ("relay", "relays")):
            for ip in tor.get(key, ()):
                self._tor[ipaddress.ip_network(ip, strict=False)] = TorNode(role, tor_list)

    @classmethod
    def from_path(cls, path: Path) -> BuiltinFeed:
        """Read a feed file in ``feed.json``'s format."""
        return cls(json.loads(path.read_text(encoding="utf-8")))

    @property
    def domains(self) -> Mapping[str, FeedCategory]:
        """Every listed domain (canonical) and its category."""
        return self._domains

    @property
    def ips(self) -> Mapping[_IPNet, FeedCategory]:
        """Every listed network and its category."""
        return self._ips

    def domain(self, name: str) -> tuple[str, FeedCategory] | None:
        """The nearest listed domain of canonical ``name`` (itself or a parent) and its category."""
        for candidate in parent_domains(name):
            cat = self._domains.get(candidate)
            if cat is not None:
                return candidate, cat
        return None

    @staticmethod
    def _find(table: Mapping[_IPNet, Any], ip: str) -> Any:
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return None
        for net, value in table.items():
            if address.version == net.version and address in net:
                return value
        return None

    def ip(self, ip: str) -> FeedCategory | None:
        """The category of a listed address, or None."""
        found: FeedCategory | None = self._find(self._ips, ip)
        return found

    def tor_node(self, ip: str) -> TorNode | None:
        """The Tor node at ``ip``, or None."""
        found: TorNode | None = self._find(self._tor, ip)
        return found


@cache
def builtin_feed() -> BuiltinFeed:
    """The shipped feed, read once."""
    return BuiltinFeed.from_path(FEED_PATH)
