"""The built-in threat-intelligence feed (``builtin/feed.json``), local feed directories and
the DNS name normaliser.

A feed document (format version 2, documented in ``docs/threat-intel.md``) is a list of
*groups*. Each group names a category (``c2``, ``crypto``, ``blackhole``, ``droppoint``,
``dga``, ``driveby``, ``phishing``, the four ``*-reputation`` categories, or the Tor roles
``tor-guard`` / ``tor-authority`` / ``tor-relay``), the finding types it produces (by default
those of :data:`CATEGORIES`), the evidence it names (``threatListName``, ``threatNames``),
where it comes from (``source``, ``reason``) and its entries:

- ``domains``: the domain itself and every sub-domain match;
- ``suffixes``: only names strictly *under* the suffix match (``duckdns.org`` matches
  ``x.duckdns.org`` but not ``duckdns.org``; a bare TLD such as ``tk`` is allowed here);
- ``exceptions``: names (and their sub-domains) that match nothing even under a listed domain or
  suffix: a provider's own service hosts (``checkip.dyndns.org``);
- ``ips``: addresses or CIDR blocks (for Tor groups: Tor nodes of that role).

Version 1 documents (one group per category, test Tor nodes under ``"tor"``) are still read.
The shipped feed holds GuardDuty's harmless test entries (reference §9, RFC 5737 addresses)
flagged ``"test": true`` and curated entries written from public knowledge, each with its
source. ``rtguard intel update`` writes version-2 documents into a local directory that the
server reads next to the shipped feed (:func:`load_feed`).

Look-ups are pure and cost O(labels) for a name (one hash probe per label, nearest listed
parent first) and O(prefix lengths in use) for an address, whatever the number of entries.
This module reads only feed files; it must not fetch anything, know about detectors or build
findings.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from rtguard.intel.nettable import IPNetwork, NetworkTable, parse_address

__all__ = [
    "CATEGORIES",
    "FEED_PATH",
    "FEED_VERSION",
    "TOR_ROLES",
    "BuiltinFeed",
    "CategoryInfo",
    "FeedCategory",
    "FeedError",
    "TorNode",
    "builtin_feed",
    "feed_files",
    "load_feed",
    "normalize_query_name",
    "parent_domains",
]

FEED_PATH: Final = Path(__file__).with_name("builtin") / "feed.json"
FEED_VERSION: Final = 2
_MAX_INPUT: Final = 1024


class FeedError(ValueError):
    """A feed document or file is invalid; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """What a category produces: the IP and DNS finding types and a default threat name."""

    ip_type: str
    dns_type: str
    label: str


CATEGORIES: Final[Mapping[str, CategoryInfo]] = {
    "c2": CategoryInfo("Backdoor:Runtime/C&CActivity.B", "Backdoor:Runtime/C&CActivity.B!DNS", "Command and control"),
    "crypto": CategoryInfo("CryptoCurrency:Runtime/BitcoinTool.B", "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
                           "Crypto-currency mining"),
    "blackhole": CategoryInfo("Trojan:Runtime/BlackholeTraffic", "Trojan:Runtime/BlackholeTraffic!DNS", "Sinkhole"),
    "droppoint": CategoryInfo("Trojan:Runtime/DropPoint", "Trojan:Runtime/DropPoint!DNS", "Drop point"),
    "dga": CategoryInfo("", "Trojan:Runtime/DGADomainRequest.C!DNS", "Known DGA domain"),
    "driveby": CategoryInfo("", "Trojan:Runtime/DriveBySourceTraffic!DNS", "Drive-by download source"),
    "phishing": CategoryInfo("", "Trojan:Runtime/PhishingDomainRequest!DNS", "Phishing"),
    "abused-reputation": CategoryInfo("", "Impact:Runtime/AbusedDomainRequest.Reputation", "Abused domain"),
    "crypto-reputation": CategoryInfo("", "Impact:Runtime/BitcoinDomainRequest.Reputation",
                                      "Crypto-currency domain"),
    "malicious-reputation": CategoryInfo("", "Impact:Runtime/MaliciousDomainRequest.Reputation",
                                         "Malicious domain"),
    "suspicious-reputation": CategoryInfo("", "Impact:Runtime/SuspiciousDomainRequest.Reputation",
                                          "Suspicious domain"),
    "tor-guard": CategoryInfo("", "", "Tor guard node"),
    "tor-authority": CategoryInfo("", "", "Tor directory authority"),
    "tor-relay": CategoryInfo("", "", "Tor relay"),
}  # fmt: skip
TOR_ROLES: Final[Mapping[str, str]] = {
    "tor-guard": "guard",
    "tor-authority": "authority",
    "tor-relay": "relay",
}
_MAX_TEXT: Final = 512


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
    """One group of entries: its category, the finding types it produces, the evidence it
    names and where it comes from."""

    category: str
    threat_list_name: str
    threat_names: tuple[str, ...]
    ip_type: str = ""
    dns_type: str = ""
    test: bool = False
    source: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TorNode:
    """A listed Tor node: its role (``guard``, ``authority`` or ``relay``) and list name."""

    role: str
    threat_list_name: str


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or len(value) > _MAX_TEXT or (required and not value):
        raise FeedError(f"{where}: {key!r} must be a{' non-empty' if required else ''} string "
                        f"of at most {_MAX_TEXT} characters")  # fmt: skip
    return value


def _strings(raw: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
    value = raw.get(key, ())
    if not isinstance(value, list | tuple):
        raise FeedError(f"{where}: {key!r} must be a list")
    return value


class BuiltinFeed:
    """One or more parsed feed documents (the first listing of an entry wins). Immutable after
    construction; thread-safe."""

    def __init__(self, document: Mapping[str, Any], *more: Mapping[str, Any], origin: str = "feed") -> None:
        self._domains: dict[str, FeedCategory] = {}
        self._suffixes: dict[str, FeedCategory] = {}
        self._exceptions: dict[str, FeedCategory] = {}
        self._ips: NetworkTable[FeedCategory] = NetworkTable()
        self._tor: NetworkTable[TorNode] = NetworkTable()
        cats: list[FeedCategory] = []
        for doc in (document, *more):
            self._add_document(doc, origin, cats)
        self.categories: tuple[FeedCategory, ...] = tuple(cats)

    @classmethod
    def from_documents(cls, documents: Iterable[tuple[str, Any]]) -> BuiltinFeed:
        """A feed from (origin, document) pairs; the origin (e.g. a path) prefixes errors."""
        feed = cls({"version": FEED_VERSION})
        cats: list[FeedCategory] = []
        for origin, doc in documents:
            feed._add_document(doc, origin, cats)
        feed.categories = tuple(cats)
        return feed

    def _add_document(self, document: Mapping[str, Any], origin: str, cats: list[FeedCategory]) -> None:
        if not isinstance(document, Mapping):
            raise FeedError(f"{origin}: a feed document must be a JSON object")
        version = document.get("version", 1)
        if version not in (1, FEED_VERSION):
            raise FeedError(f"{origin}: unsupported feed version {version!r} (expected 1 or {FEED_VERSION})")
        for index, raw in enumerate(_strings(document, "categories", origin)):
            where = f"{origin}: group {index}"
            if not isinstance(raw, Mapping):
                raise FeedError(f"{where}: must be a JSON object")
            cats.append(self._add_group(raw, where))
        tor = document.get("tor") or {}
        if not isinstance(tor, Mapping):
            raise FeedError(f"{origin}: 'tor' must be a JSON object")
        tor_list = _text(tor, "threatListName", f"{origin}: tor") or "tor"
        for role, key in (("guard", "guards"), ("authority", "authorities"), ("relay", "relays")):
            node = TorNode(role, tor_list)
            for ip in _strings(tor, key, f"{origin}: tor"):
                self._tor.add(self._network(ip, f"{origin}: tor {key}"), node)

    def _add_group(self, raw: Mapping[str, Any], where: str) -> FeedCategory:
        name = _text(raw, "category", where, required=True)
        info = CATEGORIES.get(name)
        ip_type = _text(raw, "ipType", where) or (info.ip_type if info else "")
        dns_type = _text(raw, "dnsType", where) or (info.dns_type if info else "")
        role = TOR_ROLES.get(name)
        if info is None and not (ip_type or dns_type):
            raise FeedError(f"{where}: unknown category {name[:64]!r} without ipType or dnsType; "
                            f"known: {', '.join(CATEGORIES)}")  # fmt: skip
        names = _strings(raw, "threatNames", where)
        if not all(isinstance(n, str) and len(n) <= _MAX_TEXT for n in names):
            raise FeedError(f"{where}: 'threatNames' must be a list of strings")
        cat = FeedCategory(
            category=name,
            threat_list_name=_text(raw, "threatListName", where, required=True),
            threat_names=tuple(names) or ((info.label,) if info else ()),
            ip_type=ip_type,
            dns_type=dns_type,
            test=raw.get("test", False) is True,
            source=_text(raw, "source", where),
            reason=_text(raw, "reason", where),
        )
        domains, suffixes = _strings(raw, "domains", where), _strings(raw, "suffixes", where)
        exceptions = _strings(raw, "exceptions", where)
        if role is not None and (domains or suffixes or exceptions):
            raise FeedError(f"{where}: a Tor group lists addresses only, not domains")
        for domain in domains:
            self._domains.setdefault(self._name(domain, where, "domain"), cat)
        for suffix in suffixes:
            self._suffixes.setdefault(self._name(suffix, where, "suffix", bare=True), cat)
        for exception in exceptions:
            self._exceptions.setdefault(self._name(exception, where, "exception"), cat)
        node = TorNode(role, cat.threat_list_name) if role is not None else None
        for ip in _strings(raw, "ips", where):
            net = self._network(ip, where)
            if node is not None:
                self._tor.add(net, node)
            else:
                self._ips.add(net, cat)
        return cat

    @staticmethod
    def _name(value: object, where: str, what: str, *, bare: bool = False) -> str:
        norm = normalize_query_name(value.removeprefix("*.") if isinstance(value, str) else value)
        if norm is None or (not bare and "." not in norm):
            shown = value[:80] if isinstance(value, str) else value
            raise FeedError(f"{where}: invalid {what} {shown!r}")
        return norm

    @staticmethod
    def _network(value: object, where: str) -> IPNetwork:
        try:
            if not isinstance(value, str) or len(value) > 64:
                raise ValueError
            return ipaddress.ip_network(value, strict=False)
        except ValueError:
            shown = value[:80] if isinstance(value, str) else value
            raise FeedError(f"{where}: invalid IP address or CIDR block {shown!r}") from None

    @classmethod
    def from_path(cls, path: Path) -> BuiltinFeed:
        """Read a feed file in ``feed.json``'s format."""
        return cls(_read(path), origin=str(path))

    @property
    def domains(self) -> Mapping[str, FeedCategory]:
        """Every listed domain (canonical) and its group."""
        return self._domains

    @property
    def suffixes(self) -> Mapping[str, FeedCategory]:
        """Every listed suffix (only names strictly under it match) and its group."""
        return self._suffixes

    @property
    def exceptions(self) -> Mapping[str, FeedCategory]:
        """Every excepted name (it and its sub-domains match nothing) and the group listing it."""
        return self._exceptions

    @property
    def ips(self) -> Mapping[IPNetwork, FeedCategory]:
        """Every listed network (Tor nodes excepted) and its group; built on each call."""
        return dict(self._ips.items())

    @property
    def network_count(self) -> int:
        """How many networks are listed (Tor nodes excepted), without building them."""
        return len(self._ips)

    @property
    def tor_nodes(self) -> Mapping[IPNetwork, TorNode]:
        """Every listed Tor node; built on each call."""
        return dict(self._tor.items())

    def domain(self, name: str) -> tuple[str, FeedCategory] | None:
        """The nearest listed entry for canonical ``name`` and its group: a listed domain that is
        ``name`` or a parent of it, or a listed suffix strictly above ``name``; None when there
        is none or an exception (``name`` or a parent) comes first. At most three hash probes
        per label."""
        labels = name.split(".")
        last = len(labels) - 1
        for i in range(last + 1):
            candidate = name if i == 0 else ".".join(labels[i:])
            if i < last:
                cat = self._domains.get(candidate)
                if cat is not None:
                    return candidate, cat
                if candidate in self._exceptions:
                    return None
            if i > 0:
                cat = self._suffixes.get(candidate)
                if cat is not None:
                    return candidate, cat
        return None

    def ip(self, ip: str) -> FeedCategory | None:
        """The group of the most specific listed network holding ``ip``, or None."""
        address = parse_address(ip)
        return None if address is None else self._ips.find(address)

    def tor_node(self, ip: str) -> TorNode | None:
        """The Tor node at ``ip``, or None."""
        address = parse_address(ip)
        return None if address is None else self._tor.find(address)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FeedError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise FeedError(f"{path}: not a JSON feed document: {exc}") from exc


def feed_files(directory: Path) -> list[Path]:
    """The feed files of a local feed directory (``*.json``, sorted by name)."""
    return sorted(p for p in directory.glob("*.json") if p.is_file() and not p.name.startswith("."))


def load_feed(directories: Iterable[Path] = ()) -> BuiltinFeed:
    """The shipped feed followed by every feed file of ``directories`` (shipped entries win).

    Raises:
        FeedError: a directory or file cannot be read, or a file is not a valid feed document.
    """
    documents: list[tuple[str, Any]] = [(str(FEED_PATH), _read(FEED_PATH))]
    for directory in directories:
        if not directory.is_dir():
            raise FeedError(f"{directory}: not a directory")
        documents.extend((str(path), _read(path)) for path in feed_files(directory))
    return BuiltinFeed.from_documents(documents)


@cache
def builtin_feed() -> BuiltinFeed:
    """The shipped feed, read once."""
    return BuiltinFeed.from_path(FEED_PATH)
