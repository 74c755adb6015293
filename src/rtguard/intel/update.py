"""``rtguard intel update``: download public threat feeds into a local feed directory.

A *source* is ``NAME=CATEGORY@URL[:FORMAT]``: the feed at ``URL`` (``http(s)://``, ``file://``
or an absolute path) holds entries of ``CATEGORY`` (one of ``rtguard.intel.feed.CATEGORIES``)
in ``FORMAT``:

- ``txt`` (default): one IP address, CIDR block or domain per line; ``#`` and ``;`` start
  comments;
- ``hosts``: hosts-file lines ``0.0.0.0 domain [domain ...]`` (the address is ignored;
  ``localhost`` and the other hosts-file boilerplate names are skipped);
- ``csv``, ``csv/N`` or ``csv/NAME``: comma-separated values, the entry in column ``N``
  (1-based, default 1) or in the column headed ``NAME`` (the first row that is not a ``#``
  comment is then the header). A URL in the cell counts as its host name.

Every line is validated; the first invalid one stops the update with ``NAME: line N: why``.
Limits: the download size (``max_bytes``), the line length and the number of entries. Addresses
that are not public (private, loopback, link-local, documentation, multicast...) are skipped
and counted, never listed. A source that yields no entry is an error (an HTML error page or an
emptied feed must not silently void the previous one). All sources are fetched and validated
before anything is written; each then becomes ``OUT/NAME.json`` (feed format version 2),
written to a temporary file and renamed, so a failed update leaves the previous files intact.

The server reads the directory with ``--intel-dir`` (``rtguard.intel.feed.load_feed``).
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from rtguard.intel.feed import CATEGORIES, FEED_VERSION, TOR_ROLES, BuiltinFeed, normalize_query_name
from rtguard.intel.parse import normalize_domain

__all__ = [
    "FORMATS",
    "MAX_FEED_BYTES",
    "MAX_FEED_ENTRIES",
    "MAX_LINE",
    "FeedSource",
    "FeedUpdateError",
    "ParsedFeed",
    "fetch",
    "parse_feed",
    "parse_source",
    "update_feeds",
    "write_feed",
]

MAX_FEED_BYTES: Final = 64 << 20
MAX_FEED_ENTRIES: Final = 2_000_000
MAX_LINE: Final = 4096
FORMATS: Final = ("txt", "hosts", "csv")
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FORMAT_RE: Final = re.compile(r"^(txt|hosts|csv)(?:/([A-Za-z0-9_ .-]{1,64}))?$")
_MAX_URL: Final = 2048
_MIN_PREFIX: Final = {4: 8, 6: 16}
_HOSTS_BOILERPLATE: Final = frozenset(
    {"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback",
     "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0"}
)  # fmt: skip


class FeedUpdateError(ValueError):
    """A source is malformed, cannot be fetched or fails validation; the message says where."""


def _show(text: str, limit: int = 80) -> str:
    """``text`` quoted and escaped for a message (control characters, quotes), cut to ``limit``."""
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


@dataclass(frozen=True, slots=True)
class FeedSource:
    """One feed to fetch: its name (the file name and ``threatListName``), category, location
    and format (``column`` is the CSV column: a 1-based number or a header name)."""

    name: str
    category: str
    url: str
    fmt: str = "txt"
    column: str = "1"


def parse_source(spec: str) -> FeedSource:
    """Parse ``NAME=CATEGORY@URL[:FORMAT]``.

    Raises:
        FeedUpdateError: the specification is malformed.
    """
    name, sep, rest = spec.partition("=")
    category, at, url = rest.partition("@")
    if not sep or not at:
        raise FeedUpdateError(f"expected NAME=CATEGORY@URL[:FORMAT], got {_show(spec)}")
    if not _NAME_RE.match(name):
        raise FeedUpdateError(f"source name {_show(name)}: use 1-64 letters, digits, '.', '_' or '-'")
    if category not in CATEGORIES:
        raise FeedUpdateError(f"{name}: unknown category {_show(category)}; known: {', '.join(CATEGORIES)}")
    fmt, column = "txt", "1"
    head, colon, tail = url.rpartition(":")
    match = _FORMAT_RE.match(tail) if colon else None
    if match is not None and head:
        url, fmt, column = head, match.group(1), match.group(2) or "1"
        if fmt != "csv" and match.group(2):
            raise FeedUpdateError(f"{name}: format {fmt} takes no column")
    if len(url) > _MAX_URL or not _location_ok(url):
        raise FeedUpdateError(f"{name}: location must be an http(s):// or file:// URL or an absolute path, "
                              f"got {_show(url)}")  # fmt: skip
    return FeedSource(name, category, url, fmt, column)


def _location_ok(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return parts.scheme == "file" or url.startswith("/")


# ---------------------------------------------------------------------------------------------
# Fetching


def fetch(url: str, *, max_bytes: int = MAX_FEED_BYTES, timeout: float = 30.0) -> bytes:
    """The bytes at ``url``; never more than ``max_bytes`` are read. ``timeout`` bounds each
    network operation, ten times it the whole download (a server trickling bytes cannot hold the
    update forever).

    Raises:
        FeedUpdateError: unreachable, not HTTP 200, larger than ``max_bytes`` or too slow.
    """
    parts = urlsplit(url)
    too_big = f"{url}: the feed is larger than the limit of {max_bytes} bytes; refused"
    if parts.scheme not in ("http", "https"):
        path = Path(parts.path if parts.scheme == "file" else url)
        try:
            with path.open("rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise FeedUpdateError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if len(data) > max_bytes:
            raise FeedUpdateError(too_big)
        return data
    import httpx  # here, not at the top: the command line must not load an HTTP client to start

    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + 10 * timeout
    try:
        with (
            httpx.Client(follow_redirects=True, max_redirects=5, timeout=timeout) as client,
            client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response,
        ):
            if response.status_code != 200:
                raise FeedUpdateError(f"GET {url} answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FeedUpdateError(too_big)
            for chunk in response.iter_bytes():  # decompressed: the limit holds for gzip bombs too
                size += len(chunk)
                if size > max_bytes:
                    raise FeedUpdateError(too_big)
                if time.monotonic() > deadline:
                    raise FeedUpdateError(f"{url}: the download took longer than {10 * timeout:g} s; refused")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise FeedUpdateError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from exc
    return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# Parsing and validation


@dataclass(slots=True)
class ParsedFeed:
    """Validated entries of one source, in first-seen order without duplicates."""

    domains: dict[str, None] = field(default_factory=dict)
    networks: dict[str, None] = field(default_factory=dict)
    skipped: int = 0  # well-formed but not listed: non-public addresses, hosts-file boilerplate

    @property
    def count(self) -> int:
        return len(self.domains) + len(self.networks)


class _Validator:
    def __init__(self, source: FeedSource, max_entries: int) -> None:
        self.source = source
        self.max_entries = max_entries
        self.out = ParsedFeed()
        info = CATEGORIES[source.category]
        self.takes_ips = bool(info.ip_type) or source.category in TOR_ROLES
        self.takes_domains = bool(info.dns_type)

    def fail(self, line: int, why: str) -> FeedUpdateError:
        return FeedUpdateError(f"{self.source.name}: line {line}: {why}")

    def entry(self, value: str, line: int) -> None:
        text = value.strip()
        if "://" in text:
            host = _url_host(text)
            if host is None:
                raise self.fail(line, f"not a URL with a host name: {_show(text)}")
            text = host
        network = _network(text)
        if network is not None:
            self._network(network, text, line)
        else:
            self._domain(text, line)
        if self.out.count > self.max_entries:
            raise self.fail(line, f"more than {self.max_entries} entries; refused")

    def _network(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network, text: str, line: int) -> None:
        if not self.takes_ips:
            raise self.fail(line, f"category {self.source.category} lists domains only, got {_show(text)}")
        if net.prefixlen < _MIN_PREFIX[net.version]:
            raise self.fail(
                line, f"network {_show(text)} is broader than /{_MIN_PREFIX[net.version]}; refused"
            )
        if not net.is_global or net.is_multicast:
            self.out.skipped += 1
            return
        self.out.networks[str(net)] = None

    def _domain(self, text: str, line: int) -> None:
        ascii_name = normalize_query_name(text.removeprefix("*."))
        name = normalize_domain(ascii_name) if ascii_name is not None else None
        if name is None:
            raise self.fail(line, f"not an IP address, CIDR block or domain: {_show(text)}")
        if not self.takes_domains:
            raise self.fail(line, f"category {self.source.category} lists addresses only, got {_show(text)}")
        self.out.domains[name] = None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not text or len(text) > 64 or not (text[0].isdigit() or ":" in text):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _url_host(text: str) -> str | None:
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    return host or None


def _strip_comment(line: str) -> str:
    for mark in ("#", ";"):
        line = line.split(mark, 1)[0]
    return line.strip()


def _lines(data: bytes, name: str) -> Iterable[tuple[int, str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        raise FeedUpdateError(f"{name}: line {bad_line}: not UTF-8 text") from None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if len(line) > MAX_LINE:
            raise FeedUpdateError(f"{name}: line {number}: longer than {MAX_LINE} characters")
        if "\x00" in line:
            raise FeedUpdateError(f"{name}: line {number}: contains a NUL byte")
        yield number, line


def _parse_txt(lines: Iterable[tuple[int, str]], v: _Validator) -> None:
    for number, raw in lines:
        line = _strip_comment(raw)
        if not line:
            continue
        if len(line.split()) != 1:
            raise v.fail(number, f"expected one entry per line, got {_show(line)}")
        v.entry(line, number)


def _parse_hosts(lines: Iterable[tuple[int, str]], v: _Validator) -> None:
    for number, raw in lines:
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        if _network(fields[0]) is None or "/" in fields[0] or len(fields) < 2:
            raise v.fail(number, f"expected 'ADDRESS name [name ...]', got {_show(raw.strip())}")
        for name in fields[1:]:
            if name.lower() in _HOSTS_BOILERPLATE:
                v.out.skipped += 1
                continue
            if _network(name) is not None:
                raise v.fail(number, f"expected a host name after the address, got {_show(name)}")
            v.entry(name, number)


def _parse_csv(lines: Iterable[tuple[int, str]], v: _Validator) -> None:
    column = v.source.column
    index: int | None = int(column) - 1 if column.isdigit() else None
    if index is not None and index < 0:
        raise FeedUpdateError(f"{v.source.name}: CSV columns are numbered from 1")
    for number, raw in lines:
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            cells = next(csv.reader([raw], strict=True), [])
        except csv.Error as exc:
            raise v.fail(number, f"malformed CSV: {exc}") from None
        if index is None:
            header = [c.strip().lower() for c in cells]
            if column.lower() not in header:
                raise v.fail(number, f"header has no column {_show(column)}: {_show(raw.strip())}")
            index = header.index(column.lower())
            continue
        if index >= len(cells):
            raise v.fail(number, f"no column {index + 1} in {_show(raw.strip())}")
        cell = cells[index].strip()
        if not cell:
            raise v.fail(number, f"column {index + 1} is empty")
        v.entry(cell, number)


_PARSERS: Final[dict[str, Callable[[Iterable[tuple[int, str]], _Validator], None]]] = {
    "txt": _parse_txt,
    "hosts": _parse_hosts,
    "csv": _parse_csv,
}


def parse_feed(data: bytes, source: FeedSource, *, max_entries: int = MAX_FEED_ENTRIES) -> ParsedFeed:
    """Validate every line of ``data`` in ``source``'s format.

    Raises:
        FeedUpdateError: the first invalid line (with its number), too many entries, or none.
    """
    validator = _Validator(source, max_entries)
    _PARSERS[source.fmt](_lines(data, source.name), validator)
    if validator.out.count == 0:
        raise FeedUpdateError(f"{source.name}: no entries (skipped {validator.out.skipped}); refusing to "
                              "replace the previous feed with an empty one")  # fmt: skip
    return validator.out


# ---------------------------------------------------------------------------------------------
# Writing


def feed_document(
    source: FeedSource, parsed: ParsedFeed, *, sha256: str, fetched: datetime
) -> dict[str, Any]:
    """The version-2 feed document for a fetched source."""
    stamp = fetched.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    group: dict[str, Any] = {
        "category": source.category,
        "threatListName": source.name,
        "source": source.url[:512],
        "reason": f"fetched by rtguard intel update at {stamp}",
    }
    if parsed.domains:
        group["domains"] = list(parsed.domains)
    if parsed.networks:
        group["ips"] = list(parsed.networks)
    return {
        "_comment": "written by 'rtguard intel update'; rewritten on every update, do not edit",
        "version": FEED_VERSION,
        "fetched": {"url": source.url, "format": source.fmt, "column": source.column, "at": stamp,
                    "sha256": sha256, "skipped": parsed.skipped},
        "categories": [group],
    }  # fmt: skip


def write_feed(directory: Path, name: str, document: dict[str, Any]) -> Path:
    """Write ``document`` to ``directory/NAME.json`` atomically (temporary file, fsync, rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, separators=(",", ":"))
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What one source gave: counts and the file written."""

    source: FeedSource
    domains: int
    networks: int
    skipped: int
    path: Path


def update_feeds(
    sources: Sequence[FeedSource],
    out: Path,
    *,
    max_bytes: int = MAX_FEED_BYTES,
    max_entries: int = MAX_FEED_ENTRIES,
    timeout: float = 30.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[UpdateResult]:
    """Fetch and validate every source, then write each one's file; all or nothing.

    Raises:
        FeedUpdateError: a duplicate name, or any source failed (nothing is written then).
    """
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise FeedUpdateError("each --source needs its own NAME")
    ready: list[tuple[FeedSource, ParsedFeed, dict[str, Any]]] = []
    for source in sources:
        data = fetch(source.url, max_bytes=max_bytes, timeout=timeout)
        parsed = parse_feed(data, source, max_entries=max_entries)
        doc = feed_document(source, parsed, sha256=hashlib.sha256(data).hexdigest(), fetched=now())
        BuiltinFeed(doc, origin=source.name)  # the server must be able to read what we write
        ready.append((source, parsed, doc))
    results: list[UpdateResult] = []
    for source, parsed, doc in ready:
        path = write_feed(out, source.name, doc)
        results.append(UpdateResult(source, len(parsed.domains), len(parsed.networks), parsed.skipped, path))
    return results
