"""SigV4 authentication of the GuardDuty API: what boto3 signs verifies; everything else is
AccessDeniedException (403) in GuardDuty's error shape."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from fastapi import FastAPI

from rtguard.api import mount_api
from rtguard.api.sigv4 import SignatureError, verify_request
from rtguard.testing.apiserver import serve_in_thread

from .conftest import ACCOUNT, NO_RETRY, REGION, ApiEnv


def _denied(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return str(caught.value.response["Error"]["Message"])


def test_wrong_secret_is_denied(api_env: ApiEnv) -> None:
    client = api_env.client(secret=api_env.secret[::-1])
    assert "signature we calculated does not match" in _denied(client.list_detectors)
    assert "does not match" in _denied(lambda: client.list_findings(DetectorId=api_env.detector))


def test_unknown_key_is_denied(api_env: ApiEnv) -> None:
    client = api_env.client(key_id="AKIAAAAAAAAAAAAAAAAA")
    assert "security token included in the request is invalid" in _denied(client.list_detectors)


def test_wrong_region_is_denied(api_env: ApiEnv) -> None:
    client = boto3.client(
        "guardduty",
        endpoint_url=api_env.url,
        region_name="eu-central-1",
        aws_access_key_id=api_env.key_id,
        aws_secret_access_key=api_env.secret,
        config=NO_RETRY,
    )
    assert "region" in _denied(client.list_detectors)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/detector"), ("POST", "/detector/abc/findings"), ("POST", "/detector/abc/filter")],
)
def test_unsigned_requests_are_denied(api_env: ApiEnv, method: str, path: str) -> None:
    response = httpx.request(method, api_env.url + path, json={})
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Missing Authentication Token", "__type": "AccessDeniedException"}


def test_garbage_authorization_is_denied(api_env: ApiEnv) -> None:
    for header in (
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=x",
        "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00",
    ):
        response = httpx.get(
            api_env.url + "/detector", headers={"Authorization": header, "X-Amz-Date": "20240101T000000Z"}
        )
        assert response.status_code == 403, header
        assert response.json()["__type"] == "AccessDeniedException"


def _signed_parts(
    env: ApiEnv, method: str, path: str, body: bytes, service: str = "guardduty"
) -> dict[str, str]:
    request = AWSRequest(
        method=method, url=env.url + path, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(env.key_id, env.secret), service, REGION).add_auth(request)
    return dict(request.headers.items())


def test_signed_request_verifies_and_tampering_does_not(api_env: ApiEnv) -> None:
    path = f"/detector/{api_env.detector}/findings"
    body = b'{"maxResults": 1}'
    headers = _signed_parts(api_env, "POST", path, body)
    ok = httpx.post(api_env.url + path, content=body, headers=headers)
    assert ok.status_code == 200 and len(ok.json()["findingIds"]) == 1
    tampered = httpx.post(api_env.url + path, content=b'{"maxResults": 2}', headers=headers)
    assert tampered.status_code == 403
    other_path = httpx.post(
        api_env.url + f"/detector/{api_env.detector}/findings/get", content=body, headers=headers
    )
    assert other_path.status_code == 403


def test_tampered_query_string_is_denied(api_env: ApiEnv) -> None:
    headers = _signed_parts(api_env, "GET", "/detector?maxResults=1", b"")
    assert httpx.get(api_env.url + "/detector?maxResults=1", headers=headers).status_code == 200
    assert httpx.get(api_env.url + "/detector?maxResults=2", headers=headers).status_code == 403


def test_other_service_scope_is_denied(api_env: ApiEnv) -> None:
    headers = _signed_parts(api_env, "GET", "/detector", b"", service="s3")
    response = httpx.get(api_env.url + "/detector", headers=headers)
    assert response.status_code == 403
    assert "guardduty" in response.json()["message"]


def test_expired_signature_is_denied(api_env: ApiEnv) -> None:
    app = FastAPI()
    mount_api(app, api_env.store, REGION, clock=lambda: datetime.now(UTC) + timedelta(minutes=16))
    with serve_in_thread(app) as url:
        client = boto3.client(
            "guardduty",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=api_env.key_id,
            aws_secret_access_key=api_env.secret,
            config=NO_RETRY,
        )
        assert "Signature expired" in _denied(client.list_detectors)


# -- verify_request on its own ---------------------------------------------------------------------

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY = "AKIAIOSFODNN7EXAMPLE"


def _lookup(key_id: str) -> tuple[str, str] | None:
    return (ACCOUNT, SECRET) if key_id == KEY else None


def _sign(headers: dict[str, str], body: bytes, *, when: datetime | None = None) -> AWSRequest:
    request = AWSRequest(
        method="POST", url="http://127.0.0.1:9/detector/d1/findings?a=1&b=%2F", data=body, headers=headers
    )
    signer = SigV4Auth(Credentials(KEY, SECRET), "guardduty", REGION)
    if when is None:
        signer.add_auth(request)
    else:
        request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        request.headers["X-Amz-Date"] = request.context["timestamp"]
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        signer._inject_signature_to_request(request, signature)
    return request


def _verify(
    request: AWSRequest,
    *,
    body: bytes | None = None,
    now: datetime | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> str:
    headers = [(k.lower(), v) for k, v in request.headers.items()] + [("host", "127.0.0.1:9")] + (extra or [])
    return verify_request(
        method="POST",
        raw_path="/detector/d1/findings",
        query_string="a=1&b=%2F",
        headers=headers,
        body=request.body if body is None else body,
        region=REGION,
        lookup_secret=_lookup,
        now=now or datetime.now(UTC),
    )


def test_verify_accepts_botocore_signatures() -> None:
    request = _sign({"Content-Type": "application/json"}, b'{"x": 1}')
    assert _verify(request) == ACCOUNT
    # Unsigned extra headers (added by proxies, user agents) do not matter.
    assert _verify(request, extra=[("x-forwarded-for", "10.0.0.1"), ("user-agent", "curl")]) == ACCOUNT


def test_verify_checks_clock_skew() -> None:
    past = datetime.now(UTC) - timedelta(minutes=10)
    request = _sign({}, b"{}", when=past)
    assert _verify(request) == ACCOUNT
    with pytest.raises(SignatureError, match="expired"):
        _verify(request, now=past + timedelta(minutes=15, seconds=1))


def test_verify_rejects_a_mismatching_content_hash() -> None:
    body = b'{"x": 1}'
    request = _sign({"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}, body)
    assert _verify(request) == ACCOUNT
    with pytest.raises(SignatureError, match="x-amz-content-sha256"):
        _verify(request, body=b'{"x": 2}')


def test_verify_accepts_signed_headers_botocore_would_skip() -> None:
    # A non-botocore client may sign user-agent; verification must use exactly the signed list.
    body = b"{}"
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:9/detector/d1/findings?a=1&b=%2F",
        data=body,
        headers={"User-Agent": "custom/1.0"},
    )

    class SignEverything(SigV4Auth):  # type: ignore[misc]
        def headers_to_sign(self, req: Any) -> Any:
            signed = super().headers_to_sign(req)
            signed["user-agent"] = req.headers["User-Agent"]
            return signed

    SignEverything(Credentials(KEY, SECRET), "guardduty", REGION).add_auth(request)
    assert "user-agent" in request.headers["Authorization"]
    assert _verify(request) == ACCOUNT
