"""Fetching an IPSet or ThreatIntelSet from its ``location``: an absolute file path (or a
``file://`` URL) or an ``http(s)://`` URL, read with a size limit and a timeout, then parsed.

This is the only I/O of ``rtguard.intel``; it must not store anything or follow redirects to
other schemes, and it never reads more than ``max_bytes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import httpx

from rtguard.intel.parse import IntelEntries, IntelParseError, parse_list

__all__ = ["MAX_LIST_BYTES", "IntelLoadError", "check_location", "load_location"]

MAX_LIST_BYTES: Final = 35 << 20  # GuardDuty's limit for a list file


class IntelLoadError(ValueError):
    """The list could not be read or parsed; the message is meant for the API client."""


def check_location(location: str) -> None:
    """Raise :class:`IntelLoadError` if ``location`` is neither an absolute path nor an http(s) URL."""
    parts = urlsplit(location)
    if parts.scheme in ("http", "https") and parts.netloc:
        return
    if parts.scheme == "file" or location.startswith("/"):
        return
    raise IntelLoadError("location must be an absolute file path, a file:// URL or an http(s):// URL")


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise IntelLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return data


def _read_url(url: str, max_bytes: int, timeout: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise IntelLoadError(f"GET {url} answered HTTP {response.status_code}")
            for chunk in response.iter_bytes():
                size += len(chunk)
                chunks.append(chunk)
                if size > max_bytes:
                    break
    except httpx.HTTPError as exc:
        raise IntelLoadError(f"cannot fetch {url}: {exc}") from exc
    return b"".join(chunks)


def load_location(
    location: str, fmt: str, *, max_bytes: int = MAX_LIST_BYTES, timeout: float = 10.0
) -> IntelEntries:
    """Read and parse the list at ``location`` in format ``fmt``.

    Raises:
        IntelLoadError: bad location, unreadable, too large, not UTF-8, or unparsable.
    """
    check_location(location)
    parts = urlsplit(location)
    if parts.scheme in ("http", "https"):
        data = _read_url(location, max_bytes, timeout)
    else:
        data = _read_file(Path(parts.path if parts.scheme == "file" else location), max_bytes)
    if len(data) > max_bytes:
        raise IntelLoadError(f"the list is larger than {max_bytes} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntelLoadError("the list is not UTF-8 text") from exc
    try:
        return parse_list(text, fmt)
    except IntelParseError as exc:
        raise IntelLoadError(str(exc)) from exc
