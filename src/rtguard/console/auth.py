"""Console authentication on HTTP: sign-in with an account's access key id and secret access
key (looked up in the store as the API's SigV4 check does, compared in constant time), the
session and login-ticket cookies (signed, HttpOnly, SameSite=Strict, path ``/console``, with an
expiry), logout revocation, and the checks every POST passes (same origin, CSRF token, bounded
URL-encoded body).

Failures raise :class:`ConsoleError` (shown as a page) or :class:`LoginRequired` (a redirect to
the sign-in page). Must not render pages or read findings; tokens themselves are ``session``'s.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Mapping
from typing import Final, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from rtguard.console.session import Session, TokenError, TokenSigner

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "ConsoleAuth",
    "ConsoleError",
    "KeyLookup",
    "LoginRequired",
    "check_origin",
    "clear_cookie",
    "read_form",
    "safe_next",
    "set_cookie",
]

SESSION_COOKIE: Final = "rtguard_console"
LOGIN_COOKIE: Final = "rtguard_console_login"
COOKIE_PATH: Final = "/console"
_MAX_FORM: Final = 16 * 1024
_MAX_FIELDS: Final = 16
_MAX_CREDENTIAL: Final = 256
_LOGIN_TTL: Final = 15 * 60.0
# Compared against when the key id is unknown, so a wrong key id costs the same as a wrong secret.
_DUMMY_SECRET: Final = "x" * 40


class KeyLookup(Protocol):
    """The store's access-key look-up (the one SigV4 verification uses)."""

    def lookup_secret(self, access_key_id: str) -> tuple[str, str] | None: ...


class ConsoleError(Exception):
    """A request the console refuses: HTTP status, a short title and a message for the user."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class LoginRequired(Exception):
    """No valid session: send the browser to the sign-in page, then back to ``next_path``."""

    def __init__(self, next_path: str, reason: str = "") -> None:
        super().__init__(reason or "sign-in required")
        self.next_path = next_path
        self.reason = reason


def safe_next(raw: str | None) -> str:
    """A post-sign-in destination inside the console, else the overview (no open redirects)."""
    if (
        not raw
        or len(raw) > 2000
        or not raw.startswith("/console/")
        or raw.startswith("//")
        or "\\" in raw
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw)
        or urlsplit(raw).netloc
        or ".." in unquote(urlsplit(raw).path).split("/")
    ):
        return "/console/"
    return raw


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded POST body (first value of each), bounded in size and count.

    Raises:
        ConsoleError: 400 for another content type, an oversized or undecodable body.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_FORM:
        raise ConsoleError(400, "Bad request", f"the form is larger than {_MAX_FORM} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            raise ConsoleError(400, "Bad request", f"the form is larger than {_MAX_FORM} bytes")
    if not body:
        return {}  # no fields: the CSRF check that follows refuses it
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise ConsoleError(400, "Bad request", "the console accepts only HTML form posts")
    try:
        parsed = parse_qs(bytes(body).decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConsoleError(400, "Bad request", "the form could not be read") from exc
    return {name: values[0] for name, values in parsed.items() if values}


class ConsoleAuth:
    """Sign-in, sessions and CSRF for the console. Thread-safe.

    Sessions are stateless signed cookies; logout adds the session's id to an in-memory
    revocation list kept until the session would have expired anyway (so with several server
    processes, sign-out is only honoured by the one that served it: documented limitation).
    A session also ends as soon as its access key no longer exists in the store.
    """

    def __init__(
        self,
        keys: KeyLookup,
        signer: TokenSigner,
        *,
        ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._signer = signer
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._revoked: dict[str, float] = {}

    @property
    def ttl(self) -> float:
        """Session lifetime in seconds."""
        return self._ttl

    # -- sign-in ------------------------------------------------------------------------------------

    def sign_in(self, key_id: str, secret: str) -> tuple[Session, str] | None:
        """A new session and its cookie value for valid credentials; None otherwise.

        The secret is compared in constant time, and an unknown key id is compared against a
        dummy secret so both failures take the same time.
        """
        if not (0 < len(key_id) <= _MAX_CREDENTIAL and 0 < len(secret) <= _MAX_CREDENTIAL):
            return None
        found = self._keys.lookup_secret(key_id)
        expected = found[1] if found is not None else _DUMMY_SECRET
        same = hmac.compare_digest(expected.encode("utf-8"), secret.encode("utf-8"))
        if found is None or not same:
            return None
        return self._signer.new_session(found[0], key_id, now=self._clock(), ttl=self._ttl)

    def login_ticket(self) -> tuple[str, str]:
        """``(nonce for the form, cookie value)`` for a sign-in form."""
        ticket, token = self._signer.new_login_ticket(now=self._clock(), ttl=_LOGIN_TTL)
        return ticket.nonce, token

    def check_login_ticket(self, request: Request, form: Mapping[str, str]) -> None:
        """Raise 403 unless the form's nonce matches the signed login cookie."""
        check_origin(request)
        try:
            ticket = self._signer.login_ticket(request.cookies.get(LOGIN_COOKIE), now=self._clock())
        except TokenError as exc:
            raise ConsoleError(
                403, "Forbidden", "the sign-in form has expired or was not sent by this console; reload it"
            ) from exc
        if not hmac.compare_digest(ticket.nonce.encode(), form.get("csrf", "").encode("utf-8")):
            raise ConsoleError(
                403, "Forbidden", "the sign-in form's security token does not match; reload it"
            )

    # -- sessions -----------------------------------------------------------------------------------

    def session(self, request: Request) -> Session:
        """The request's valid session.

        Raises:
            LoginRequired: no cookie, or a forged, expired, revoked or orphaned one.
        """
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            next_path = "/console/"  # a form post cannot be replayed as a page after sign-in
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise LoginRequired(next_path)
        try:
            session = self._signer.session(token, now=self._clock())
        except TokenError as exc:
            raise LoginRequired(
                next_path, "Your session has expired or is not valid; sign in again."
            ) from exc
        with self._lock:
            revoked = session.csrf in self._revoked
        found = self._keys.lookup_secret(session.key_id)
        if revoked or found is None or found[0] != session.account_id:
            raise LoginRequired(next_path, "Your session has ended; sign in again.")
        return session

    def check_post(self, request: Request, session: Session, form: Mapping[str, str]) -> None:
        """Raise 403 unless the POST comes from this console's own page of this session."""
        check_origin(request)
        sent = form.get("csrf", "")
        if not sent or not hmac.compare_digest(session.csrf.encode(), sent.encode("utf-8")):
            raise ConsoleError(403, "Forbidden", "the form's security token is missing or does not match")

    def revoke(self, session: Session) -> None:
        """End a session before its expiry (logout)."""
        now = self._clock()
        with self._lock:
            self._revoked = {k: exp for k, exp in self._revoked.items() if exp > now}
            self._revoked[session.csrf] = session.expires


def check_origin(request: Request) -> None:
    """Raise 403 when the browser says the POST comes from another origin (``Origin`` or, without
    it, ``Referer`` naming another host).

    Our pages send ``Referrer-Policy: no-referrer``, under which browsers post our own forms with
    ``Origin: null`` and no ``Referer``; those, and clients that send neither, are left to the
    CSRF token and the SameSite=Strict cookie.
    """
    host = request.headers.get("host", "")
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value is None or value == "null":
            continue
        if urlsplit(value).netloc != host:
            raise ConsoleError(403, "Forbidden", "cross-site form posts are not accepted")
        return


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: float) -> None:
    """Set one of the console's cookies: HttpOnly, SameSite=Strict, path /console, Secure on HTTPS."""
    response.set_cookie(
        name,
        value,
        max_age=max(1, int(max_age)),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    """Remove one of the console's cookies."""
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
