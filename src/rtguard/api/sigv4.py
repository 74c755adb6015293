"""AWS Signature Version 4 verification for incoming GuardDuty API requests, computed with
botocore's own signer (``SigV4Auth`` over an ``AWSRequest`` rebuilt from exactly the signed headers
and the body) so that what boto3 and the AWS CLI sign is what we check.

Only header-based signing (``Authorization: AWS4-HMAC-SHA256 …``) with service ``guardduty`` is
accepted; presigned URLs are not. Must not know HTTP frameworks or the store (the secret lookup is
passed in) and must not reveal which check failed beyond what AWS itself says.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

__all__ = ["MAX_CLOCK_SKEW", "SERVICE", "SignatureError", "verify_request"]

SERVICE: Final = "guardduty"
MAX_CLOCK_SKEW: Final = timedelta(minutes=15)
_ALGORITHM: Final = "AWS4-HMAC-SHA256"
_AMZ_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
_UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)

SecretLookup = Callable[[str], tuple[str, str] | None]


class SignatureError(Exception):
    """The request is not (validly) signed; the message is safe to show to the client."""


@dataclass(frozen=True, slots=True)
class _Authorization:
    key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


class _ExactHeadersSigV4(SigV4Auth):  # type: ignore[misc]
    """botocore's signer, told to sign exactly the headers the client listed.

    botocore drops some headers (user-agent, expect, …) when *it* signs; a client that did sign one
    of them must still verify, so the rebuilt request's headers are used as they are.
    """

    def headers_to_sign(self, request: Any) -> Any:
        signed = HTTPHeaders()
        for name, value in request.headers.items():
            signed[name.lower()] = value
        return signed


def _header(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name]


def _parse_authorization(value: str) -> _Authorization:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != _ALGORITHM:
        raise SignatureError(f"Authorization header must use {_ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, content = part.strip().partition("=")
        if sep:
            fields[name] = content.strip()
    try:
        credential, signed, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError as exc:
        raise SignatureError(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters"
        ) from exc
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureError(
            "Credential must have the form <key id>/<yyyymmdd>/<region>/<service>/aws4_request"
        )
    names = tuple(name.strip().lower() for name in signed.split(";") if name.strip())
    return _Authorization(scope[0], scope[1], scope[2], scope[3], names, signature.lower())


def _check_scope(auth: _Authorization, region: str) -> None:
    if auth.service != SERVICE:
        raise SignatureError(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if auth.region != region:
        raise SignatureError(f"Credential should be scoped to a valid region, '{region}'.")
    if "host" not in auth.signed_headers:
        raise SignatureError("The host header must be signed.")


def _check_date(headers: Sequence[tuple[str, str]], auth: _Authorization, now: datetime) -> str:
    values = _header(headers, "x-amz-date")
    if len(values) != 1:
        raise SignatureError("The request must carry exactly one X-Amz-Date header.")
    amz_date = values[0].strip()
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureError("X-Amz-Date must have the form yyyymmddThhmmssZ.") from exc
    if amz_date[:8] != auth.date:
        raise SignatureError("The credential date does not match the X-Amz-Date header.")
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureError(
            f"Signature expired: {amz_date} is more than 15 minutes away from the server time "
            f"{now.strftime(_AMZ_DATE_FORMAT)}."
        )
    return amz_date


def _check_payload_hash(headers: Sequence[tuple[str, str]], body: bytes) -> None:
    # botocore puts a signed x-amz-content-sha256 header straight into the canonical request
    # instead of hashing the body, so the header itself must be checked against the body.
    for claimed in _header(headers, "x-amz-content-sha256"):
        if claimed != _UNSIGNED_PAYLOAD and not hmac.compare_digest(
            claimed.lower(), hashlib.sha256(body).hexdigest()
        ):
            raise SignatureError("The provided x-amz-content-sha256 header does not match the body.")


def _rebuild(
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    auth: _Authorization,
) -> AWSRequest:
    signed = HTTPHeaders()
    for name in auth.signed_headers:
        values = _header(headers, name)
        if not values:
            raise SignatureError(f"Signed header '{name}' is missing from the request.")
        for value in values:
            signed[name] = value  # HTTPHeaders appends repeated names, as SigV4 expects
    url = f"http://{_header(headers, 'host')[0]}{raw_path}" + (f"?{query_string}" if query_string else "")
    request = AWSRequest(method=method.upper(), url=url, data=body)
    request.headers = signed
    return request


def verify_request(
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    region: str,
    lookup_secret: SecretLookup,
    now: datetime,
) -> str:
    """Check a request's SigV4 signature and return the account id of its access key.

    Args:
        method: HTTP method.
        raw_path: the path exactly as sent (still percent-encoded), without the query.
        query_string: the raw query string, without ``?``.
        headers: every request header as (name, value) pairs, names in any case.
        body: the raw request body.
        region: the only region this server accepts in credential scopes.
        lookup_secret: access key id → (account id, secret), or None for an unknown key.
        now: the server's current time (timezone-aware).

    Raises:
        SignatureError: missing, malformed, expired, unknown-key or mismatching signature.
    """
    authorizations = _header(headers, "authorization")
    if not authorizations:
        raise SignatureError("Missing Authentication Token")
    auth = _parse_authorization(authorizations[0])
    _check_scope(auth, region)
    amz_date = _check_date(headers, auth, now)
    found = lookup_secret(auth.key_id)
    if found is None:
        raise SignatureError("The security token included in the request is invalid.")
    account_id, secret = found
    if "x-amz-content-sha256" in auth.signed_headers:
        _check_payload_hash(headers, body)
    request = _rebuild(
        method=method, raw_path=raw_path, query_string=query_string, headers=headers, body=body, auth=auth
    )
    request.context["timestamp"] = amz_date
    signer = _ExactHeadersSigV4(Credentials(auth.key_id, secret), SERVICE, auth.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(str(expected), auth.signature):
        raise SignatureError(_MISMATCH)
    return account_id
