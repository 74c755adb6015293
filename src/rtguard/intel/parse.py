"""Parsers for IPSet and ThreatIntelSet files: plain text (one IP address, CIDR block or domain
per line, ``#`` comments) and STIX 2.1 JSON (indicators whose patterns compare ``ipv4-addr``,
``ipv6-addr`` or ``domain-name`` values, and those cyber-observable objects themselves).

Pure: text in, ``IntelEntries`` out; no I/O. Lines or objects that are not understood are
counted and the first few described, never fatal (one bad line must not void a list).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "PARSERS",
    "IntelEntries",
    "IntelParseError",
    "normalize_domain",
    "normalize_network",
    "parse_list",
    "parse_stix",
    "parse_txt",
]

_MAX_ERRORS: Final = 10
_LABEL_RE: Final = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class IntelParseError(ValueError):
    """The file as a whole cannot be read in the declared format (e.g. STIX that is not JSON)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IntelEntries:
    """A parsed list: normalised networks (CIDR text; a single address is /32 or /128) and
    domains (lower case, no trailing dot), in first-seen order without duplicates."""

    networks: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    skipped: int = 0
    errors: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (what the store keeps)."""
        return {
            "networks": list(self.networks),
            "domains": list(self.domains),
            "skipped": self.skipped,
            "errors": list(self.errors),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IntelEntries:
        """Inverse of :meth:`to_json`; missing keys mean empty."""
        return cls(
            networks=tuple(str(n) for n in data.get("networks", ())),
            domains=tuple(str(d) for d in data.get("domains", ())),
            skipped=int(data.get("skipped", 0)),
            errors=tuple(str(e) for e in data.get("errors", ())),
        )


def normalize_network(text: str) -> str | None:
    """CIDR text of an IPv4/IPv6 address or network (host bits cleared); None if not one."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        return None


def normalize_domain(text: str) -> str | None:
    """A domain in canonical form (lower case, no trailing dot, no ``*.``); None if invalid."""
    name = text.strip().lower().rstrip(".").removeprefix("*.")
    if not name or len(name) > 253 or "." not in name:
        return None
    labels = name.split(".")
    if not all(_LABEL_RE.match(label) for label in labels) or labels[-1].isdigit():
        return None
    return name


class _Collector:
    def __init__(self) -> None:
        self.networks: dict[str, None] = {}
        self.domains: dict[str, None] = {}
        self.skipped = 0
        self.errors: list[str] = []

    def value(self, text: str, where: str) -> None:
        network = normalize_network(text)
        if network is not None:
            self.networks[network] = None
            return
        domain = normalize_domain(text)
        if domain is not None:
            self.domains[domain] = None
            return
        self.skip(f"{where}: not an IP address, CIDR block or domain: {text[:80]!r}")

    def skip(self, message: str) -> None:
        self.skipped += 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(message)

    def result(self) -> IntelEntries:
        return IntelEntries(
            networks=tuple(self.networks),
            domains=tuple(self.domains),
            skipped=self.skipped,
            errors=tuple(self.errors),
        )


def parse_txt(text: str) -> IntelEntries:
    """One entry per line; blank lines and ``#`` comments (whole-line or trailing) are ignored."""
    out = _Collector()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            out.value(line, f"line {number}")
    return out.result()


# A comparison in a STIX pattern: [ipv4-addr:value = '198.51.100.1'] or ISSUBSET for networks.
_COMPARISON: Final = re.compile(
    r"(ipv4-addr|ipv6-addr|domain-name):value\s*(?:=|ISSUBSET)\s*'((?:[^'\\]|\\.)*)'", re.IGNORECASE
)
_OBSERVABLES: Final = frozenset({"ipv4-addr", "ipv6-addr", "domain-name"})


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _objects(document: Any) -> Iterable[Any]:
    if isinstance(document, Mapping) and document.get("type") == "bundle":
        objects = document.get("objects", [])
        return objects if isinstance(objects, list) else []
    if isinstance(document, list):
        return document
    return [document]


def parse_stix(text: str) -> IntelEntries:
    """A STIX 2.1 bundle (or one object, or a JSON array of objects).

    Raises:
        IntelParseError: the text is not JSON.
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise IntelParseError(f"STIX content is not JSON: {exc}") from exc
    out = _Collector()
    for index, obj in enumerate(_objects(document)):
        where = f"object {index}"
        if not isinstance(obj, Mapping):
            out.skip(f"{where}: not a JSON object")
            continue
        kind = obj.get("type")
        if kind in _OBSERVABLES and isinstance(obj.get("value"), str):
            out.value(obj["value"], where)
        elif kind == "indicator":
            pattern = obj.get("pattern")
            if obj.get("pattern_type", "stix") != "stix" or not isinstance(pattern, str):
                out.skip(f"{where}: indicator without a STIX pattern")
                continue
            found = _COMPARISON.findall(pattern)
            if not found:
                out.skip(f"{where}: pattern has no IP address or domain comparison")
            for _kind, value in found:
                out.value(_unescape(value), where)
    return out.result()


PARSERS: Final[Mapping[str, Callable[[str], IntelEntries]]] = {"TXT": parse_txt, "STIX": parse_stix}


def parse_list(text: str, fmt: str) -> IntelEntries:
    """Parse ``text`` in GuardDuty list format ``fmt`` (``TXT`` or ``STIX``).

    Raises:
        IntelParseError: unsupported format, or content unreadable as a whole.
    """
    parser = PARSERS.get(fmt)
    if parser is None:
        raise IntelParseError(f"format {fmt} is not supported; use {' or '.join(PARSERS)}")
    return parser(text)
