"""Signed, expiring tokens for the web console: the session (account, access key id, CSRF
secret, issue and expiry times) and the short-lived login ticket that protects the sign-in form
against cross-site request forgery.

A token is ``base64url(JSON).base64url(HMAC-SHA256(key, purpose + "." + base64url(JSON)))``; the
purpose is part of the MAC so a login ticket can never pass as a session. Verification compares
MACs in constant time and rejects malformed, oversized, forged, wrong-purpose and expired tokens
alike. Pure (time and key are arguments): must not read cookies, the store or HTTP objects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["LoginTicket", "Session", "TokenError", "TokenSigner"]

_MAX_TOKEN: Final = 2048
_SESSION: Final = "session"
_LOGIN: Final = "login"


class TokenError(ValueError):
    """The token is missing, malformed, forged, for another purpose or expired."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A signed-in console user: whose data it may see and until when."""

    account_id: str
    key_id: str
    csrf: str  # also the session's unique id (logout revokes it)
    issued: float
    expires: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginTicket:
    """The nonce a sign-in form must echo, and when it stops being accepted."""

    nonce: str
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Signs and verifies console tokens with one secret key. Thread-safe (immutable)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the console signing key must have at least 32 bytes")
        self._key = key

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}.{body}".encode("ascii"), hashlib.sha256).digest())

    def _sign(self, purpose: str, payload: Mapping[str, Any]) -> str:
        body = _b64(json.dumps(dict(payload), separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def _open(self, purpose: str, token: str | None, now: float) -> dict[str, Any]:
        if not token or len(token) > _MAX_TOKEN or not token.isascii():
            raise TokenError("no valid token")
        body, sep, mac = token.partition(".")
        if not sep or not hmac.compare_digest(mac.encode("ascii"), self._mac(purpose, body).encode("ascii")):
            raise TokenError("the token's signature is not valid")
        try:
            payload = json.loads(_unb64(body))
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise TokenError("the token is malformed") from exc
        if not isinstance(payload, dict):
            raise TokenError("the token is malformed")
        expires = payload.get("e")
        if isinstance(expires, bool) or not isinstance(expires, int | float):
            raise TokenError("the token is malformed")
        if now >= expires:
            raise TokenError("the token has expired")
        return payload

    # -- sessions -----------------------------------------------------------------------------------

    def new_session(self, account_id: str, key_id: str, *, now: float, ttl: float) -> tuple[Session, str]:
        """A fresh session with a new CSRF secret, and its token."""
        session = Session(
            account_id=account_id,
            key_id=key_id,
            csrf=secrets.token_urlsafe(32),
            issued=now,
            expires=now + ttl,
        )
        payload = {"a": account_id, "k": key_id, "c": session.csrf, "i": now, "e": session.expires}
        return session, self._sign(_SESSION, payload)

    def session(self, token: str | None, *, now: float) -> Session:
        """The session a token carries.

        Raises:
            TokenError: missing, malformed, forged, not a session token, or expired.
        """
        payload = self._open(_SESSION, token, now)
        fields = (payload.get("a"), payload.get("k"), payload.get("c"))
        issued = payload.get("i")
        if not all(isinstance(f, str) and f for f in fields) or not isinstance(issued, int | float):
            raise TokenError("the token is malformed")
        return Session(
            account_id=str(payload["a"]),
            key_id=str(payload["k"]),
            csrf=str(payload["c"]),
            issued=float(issued),
            expires=float(payload["e"]),
        )

    # -- login tickets -------------------------------------------------------------------------------

    def new_login_ticket(self, *, now: float, ttl: float) -> tuple[LoginTicket, str]:
        """A fresh sign-in nonce and its token (for a cookie next to the form)."""
        ticket = LoginTicket(nonce=secrets.token_urlsafe(24), expires=now + ttl)
        return ticket, self._sign(_LOGIN, {"n": ticket.nonce, "e": ticket.expires})

    def login_ticket(self, token: str | None, *, now: float) -> LoginTicket:
        """The ticket a token carries.

        Raises:
            TokenError: missing, malformed, forged, not a login ticket, or expired.
        """
        payload = self._open(_LOGIN, token, now)
        nonce = payload.get("n")
        if not isinstance(nonce, str) or not nonce:
            raise TokenError("the token is malformed")
        return LoginTicket(nonce=nonce, expires=float(payload["e"]))
