"""The destinations findings are published to: an HTTP webhook (JSON POST), a directory of
rotated JSON-lines files, and syslog (RFC 5424 over UDP or a unix datagram socket), plus the
table that turns a publishing destination's type and ``destinationArn`` into one of them.

Each destination only delivers a payload it is given and raises ``PublishError`` with a short
reason when it cannot; retries, queues and counting are the publisher's. Must not format
findings (``formats``) or choose what to publish.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from rtguard.findings.formats import PayloadFormat
from rtguard.findings.publish import Destination, PublishError

__all__ = [
    "DESTINATION_TYPES",
    "JsonlDirectoryDestination",
    "SyslogDestination",
    "WebhookDestination",
    "build_destination",
]


class WebhookDestination:
    """POSTs each payload as JSON to an http(s) URL; any 2xx answer is success."""

    def __init__(self, url: str, *, timeout: float = 5.0, label: str = "") -> None:
        self.url = url
        self.label = label or f"webhook:{urlsplit(url).netloc}"
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def send(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":"))
        try:
            response = self._client.post(
                self.url, content=body, headers={"content-type": "application/json", "user-agent": "rtguard"}
            )
        except httpx.TimeoutException as exc:
            raise PublishError("timeout", str(exc)) from exc
        except httpx.HTTPError as exc:
            raise PublishError("connection", str(exc)) from exc
        if not 200 <= response.status_code < 300:
            raise PublishError(f"http_{response.status_code // 100}xx", f"HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()


class JsonlDirectoryDestination:
    """Appends one JSON object per line to ``DIR/findings.jsonl``; past ``max_bytes`` the file
    is renamed ``findings-<UTC time>.jsonl`` and a new one started; only the newest
    ``max_files`` rotated files are kept."""

    def __init__(
        self, directory: Path, *, max_bytes: int = 64 << 20, max_files: int = 10, label: str = ""
    ) -> None:
        self.directory = directory
        self.label = label or f"file:{directory}"
        self._max_bytes = max_bytes
        self._max_files = max_files
        self._lock = threading.Lock()
        self._serial = 0

    @property
    def current(self) -> Path:
        """The file being written."""
        return self.directory / "findings.jsonl"

    def send(self, payload: dict[str, Any]) -> None:
        line = (json.dumps(payload, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                if self.current.exists() and self.current.stat().st_size + len(line) > self._max_bytes:
                    self._rotate()
                fd = os.open(self.current, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise PublishError("io", str(exc)) from exc

    def _rotate(self) -> None:
        self._serial += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        os.replace(self.current, self.directory / f"findings-{stamp}-{self._serial:04d}.jsonl")
        rotated = sorted(self.directory.glob("findings-*.jsonl"))
        for old in rotated[: max(0, len(rotated) - self._max_files)]:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        return None


_FACILITY_LOCAL0: Final = 16
_MAX_DATAGRAM: Final = 60_000


def _syslog_severity(payload: Mapping[str, Any]) -> int:
    detail = payload.get("detail", payload)
    raw = detail.get("severity") if isinstance(detail, Mapping) else None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return 2 if raw >= 7 else 4 if raw >= 4 else 5  # crit, warning, notice
    sev_id = payload.get("severity_id")
    return 2 if isinstance(sev_id, int) and sev_id >= 4 else 4


class SyslogDestination:
    """Sends each payload as one RFC 5424 message (MSGID ``GuardDutyFinding``, JSON as MSG) to
    ``udp://host:port`` or a unix datagram socket path."""

    def __init__(self, address: tuple[str, int] | str, *, label: str = "") -> None:
        self.address = address
        where = address if isinstance(address, str) else f"{address[0]}:{address[1]}"
        self.label = label or f"syslog:{where}"
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._host = socket.gethostname() or "-"

    def send(self, payload: dict[str, Any]) -> None:
        pri = _FACILITY_LOCAL0 * 8 + _syslog_severity(payload)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        message = f"<{pri}>1 {stamp} {self._host} rtguard - GuardDutyFinding - "
        data = message.encode() + json.dumps(payload, separators=(",", ":")).encode()
        if len(data) > _MAX_DATAGRAM:
            raise PublishError("too_large", f"{len(data)} bytes")
        try:
            self._sock.sendto(data, self.address)
        except OSError as exc:
            raise PublishError("io", str(exc)) from exc

    def close(self) -> None:
        self._sock.close()


# -- destination types --------------------------------------------------------------------------

_BUCKET_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _safe_relative(text: str) -> Path:
    parts = [p for p in text.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError("the destination path must not contain '.' or '..' segments")
    return Path(*parts) if parts else Path()


def _s3_directory(arn: str, export_root: Path | None) -> Destination:
    if export_root is None:
        raise ValueError("S3 destinations need the server's export directory (rtguard server --data-dir)")
    if not arn.startswith("arn:aws:s3:::"):
        raise ValueError("destinationArn must be an S3 bucket ARN: arn:aws:s3:::bucket[/prefix]")
    bucket, _, prefix = arn.removeprefix("arn:aws:s3:::").partition("/")
    if not _BUCKET_RE.match(bucket):
        raise ValueError("destinationArn names an invalid bucket")
    return JsonlDirectoryDestination(export_root / bucket / _safe_relative(prefix), label=f"s3:{bucket}")


def _file_directory(arn: str, _export_root: Path | None) -> Destination:
    path = arn.removeprefix("file://")
    if not path.startswith("/"):
        raise ValueError("destinationArn must be an absolute directory path or a file:// URL")
    return JsonlDirectoryDestination(Path("/") / _safe_relative(path))


def _webhook(arn: str, _export_root: Path | None) -> Destination:
    parts = urlsplit(arn)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("destinationArn must be an http:// or https:// URL")
    return WebhookDestination(arn)


def _syslog(arn: str, _export_root: Path | None) -> Destination:
    parts = urlsplit(arn)
    if parts.scheme == "udp" and parts.hostname and parts.port:
        return SyslogDestination((parts.hostname, parts.port))
    if parts.scheme == "unix" and parts.path.startswith("/"):
        return SyslogDestination(parts.path)
    raise ValueError("destinationArn must be udp://HOST:PORT or unix:///path/to/socket")


Builder = Callable[[str, Path | None], Destination]

# destinationType → (builder from destinationArn, payload format). S3 is GuardDuty's own type
# (files under the export directory); the others are rtguard's.
DESTINATION_TYPES: Final[Mapping[str, tuple[Builder, PayloadFormat]]] = {
    "S3": (_s3_directory, PayloadFormat.FINDING),
    "FILE": (_file_directory, PayloadFormat.FINDING),
    "FILE_OCSF": (_file_directory, PayloadFormat.OCSF),
    "WEBHOOK": (_webhook, PayloadFormat.EVENTBRIDGE),
    "WEBHOOK_OCSF": (_webhook, PayloadFormat.OCSF),
    "SYSLOG": (_syslog, PayloadFormat.EVENTBRIDGE),
    "SYSLOG_OCSF": (_syslog, PayloadFormat.OCSF),
}


def build_destination(
    destination_type: str, arn: str, export_root: Path | None
) -> tuple[Destination, PayloadFormat]:
    """The destination and payload format for a type and ``destinationArn``.

    Raises:
        ValueError: unknown type or an ARN/URL the type cannot use (the message says which).
    """
    entry = DESTINATION_TYPES.get(destination_type)
    if entry is None:
        raise ValueError(f"destinationType must be one of {', '.join(DESTINATION_TYPES)}")
    builder, fmt = entry
    return builder(arn, export_root), fmt
