"""Identifiers and credentials in the formats GuardDuty users expect: detector ids (32 hex),
AWS-style access key ids and secrets, agent tokens, account ids, and ISO-8601 timestamps.

Random values come from :mod:`secrets` only. Pure apart from randomness and the clock passed in;
must not touch the database.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "is_account_id",
    "iso",
    "new_access_key_id",
    "new_agent_token",
    "new_detector_id",
    "new_secret_key",
    "token_digest",
]

_KEY_ALPHABET: Final = string.ascii_uppercase + string.digits
_SECRET_ALPHABET: Final = string.ascii_letters + string.digits + "+/"
_ACCOUNT_RE: Final = re.compile(r"^\d{12}$")


def new_detector_id() -> str:
    """32 lowercase hex characters, like GuardDuty's detector ids."""
    return secrets.token_hex(16)


def new_access_key_id() -> str:
    """ "AKIA" followed by 16 upper-case letters and digits."""
    return "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret_key() -> str:
    """40 characters from the base64 alphabet, like AWS secret access keys."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def new_agent_token() -> str:
    """An opaque bearer token for agents (prefix makes leaked tokens easy to grep for)."""
    return "rtg_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored (tokens themselves never are)."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_account_id(value: str) -> bool:
    """True for a 12-digit AWS-style account id."""
    return bool(_ACCOUNT_RE.match(value))


def iso(moment: datetime) -> str:
    """GuardDuty's timestamp text: UTC, milliseconds, ``Z`` suffix (2024-05-01T12:00:00.123Z)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
