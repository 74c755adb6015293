"""Console sign-in, sessions and CSRF over real HTTP (uvicorn on 127.0.0.1, httpx): no cookie,
wrong secrets, forged, expired, revoked and wrong-purpose cookies, missing or foreign CSRF
tokens, cross-origin posts, open redirects, cookie attributes and per-account isolation."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx

from rtguard.console.auth import LOGIN_COOKIE, SESSION_COOKIE
from rtguard.console.session import TokenSigner

from .conftest import ACCOUNT, SESSION_KEY, ConsoleEnv, csrf_of, sign_in


def _cookie_header(response: httpx.Response, name: str) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def _with_session(env: ConsoleEnv, token: str) -> httpx.Client:
    client = env.client()
    client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1", path="/console")
    return client


def test_no_cookie_redirects_every_page_to_sign_in(console_env: ConsoleEnv) -> None:
    with console_env.client() as client:
        for path in (
            "/console/",
            "/console/findings?type=x&status=all",
            "/console/coverage",
            "/console/agents",
            "/console/usage",
        ):
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/console/login?next=" + quote(path, safe="")
        post = client.post("/console/finding/archive", data={"id": "x", "action": "archive", "csrf": "x"})
        assert post.status_code == 303
        assert post.headers["location"] == "/console/login?next=%2Fconsole%2F"
        root = client.get("/console")
        assert root.status_code == 307 and root.headers["location"] == "/console/"


def test_sign_in_sets_a_strict_httponly_expiring_cookie_and_returns_to_next(console_env: ConsoleEnv) -> None:
    with console_env.client() as client:
        response = sign_in(client, console_env.key_id, console_env.secret, next_path="/console/agents")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/agents"
        cookie = _cookie_header(response, SESSION_COOKIE).lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert "max-age=28800" in cookie
        page = client.get("/console/agents")
        assert page.status_code == 200
        assert f"Account {ACCOUNT}" in page.text


def test_wrong_or_unknown_credentials_are_refused(console_env: ConsoleEnv) -> None:
    cases = [
        (console_env.key_id, console_env.secret[:-1] + ("A" if console_env.secret[-1] != "A" else "B")),
        (console_env.key_id, ""),
        ("AKIAUNKNOWN000000000", console_env.secret),
        (console_env.key_id, console_env.other_secret),  # another account's secret
    ]
    for key_id, secret in cases:
        with console_env.client() as client:
            response = sign_in(client, key_id, secret)
            assert response.status_code == 401
            assert "The access key id or secret access key is not valid." in response.text
            assert SESSION_COOKIE not in response.cookies
            assert client.get("/console/").status_code == 303


def test_forged_expired_and_wrong_purpose_cookies_are_refused(console_env: ConsoleEnv) -> None:
    signer = TokenSigner(SESSION_KEY)
    _, good = signer.new_session(ACCOUNT, console_env.key_id, now=time.time(), ttl=600)
    with _with_session(console_env, good) as client:
        assert client.get("/console/").status_code == 200  # the control: a valid token works
    body, _, mac = good.partition(".")
    _, other_body = signer.new_session("210987654321", console_env.other_key_id, now=time.time(), ttl=600)
    _, expired = signer.new_session(ACCOUNT, console_env.key_id, now=time.time() - 3600, ttl=600)
    _, foreign_key = TokenSigner(b"z" * 32).new_session(ACCOUNT, console_env.key_id, now=time.time(), ttl=600)
    _, ticket = signer.new_login_ticket(now=time.time(), ttl=600)
    forged = [
        "garbage",
        body,  # no signature
        f"{other_body.partition('.')[0]}.{mac}",  # another payload under this signature
        f"{body}.{mac[:-2]}AA",
        expired,
        foreign_key,
        ticket,  # a login ticket is not a session
        "x" * 5000,
    ]
    for token in forged:
        with _with_session(console_env, token) as client:
            response = client.get("/console/findings")
            assert response.status_code == 303, token
            assert response.headers["location"].startswith("/console/login?next=")


def test_session_of_a_deleted_account_key_ends(console_env: ConsoleEnv) -> None:
    signer = TokenSigner(SESSION_KEY)
    _, token = signer.new_session(ACCOUNT, "AKIADOESNOTEXIST0000", now=time.time(), ttl=600)
    with _with_session(console_env, token) as client:
        assert client.get("/console/").status_code == 303


def test_post_without_or_with_a_wrong_csrf_token_is_forbidden(console_env: ConsoleEnv) -> None:
    fid = next(i for i, d in console_env.findings.items() if not d["service"]["archived"] and i != "x")
    with console_env.signed_in() as client, console_env.signed_in() as other_session:
        detail = client.get("/console/finding", params={"id": fid})
        assert detail.status_code == 200
        foreign = csrf_of(other_session.get("/console/finding", params={"id": fid}).text)
        for form in ({"id": fid, "action": "archive"}, {"id": fid, "action": "archive", "csrf": ""},
                     {"id": fid, "action": "archive", "csrf": "nope"}, {"id": fid, "action": "archive", "csrf": foreign}):  # fmt: skip
            response = client.post("/console/finding/archive", data=form)
            assert response.status_code == 403, form
            assert "security token" in response.text
        logout = client.post("/console/logout", data={})
        assert logout.status_code == 403
        # a correct token from a hostile origin is refused too
        cross = client.post(
            "/console/finding/archive",
            data={"id": fid, "action": "archive", "csrf": csrf_of(detail.text)},
            headers={"Origin": "http://evil.example"},
        )
        assert cross.status_code == 403
    assert console_env.store.get_findings(console_env.detector, [fid])[0]["service"]["archived"] is False


def test_sign_in_form_needs_its_ticket(console_env: ConsoleEnv) -> None:
    with console_env.client() as client:
        data = {"access_key_id": console_env.key_id, "secret_access_key": console_env.secret}
        assert client.post("/console/login", data={**data, "csrf": "x"}).status_code == 403
        form = client.get("/console/login")
        assert "samesite=strict" in _cookie_header(form, LOGIN_COOKIE).lower()
        client.cookies.clear()
        assert client.post("/console/login", data={**data, "csrf": csrf_of(form.text)}).status_code == 403


def test_logout_revokes_the_session_cookie(console_env: ConsoleEnv) -> None:
    with console_env.signed_in() as client:
        token = client.cookies.get(SESSION_COOKIE)
        assert token
        page = client.get("/console/")
        response = client.post("/console/logout", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 303 and response.headers["location"] == "/console/login"
        assert client.get("/console/").status_code == 303
    with _with_session(console_env, token) as replay:  # the old cookie, replayed
        assert replay.get("/console/").status_code == 303


def test_sign_in_never_redirects_off_the_console(console_env: ConsoleEnv) -> None:
    for target in (
        "//evil.example/console/",
        "https://evil.example/",
        "/console/\\evil",
        "/elsewhere",
        "/console/\r\nX: y",
        "/console/../detector",
        "/console/%2e%2e/detector",
    ):
        with console_env.client() as client:
            response = sign_in(client, console_env.key_id, console_env.secret, next_path=target)
            assert response.status_code == 303
            assert response.headers["location"] == "/console/", target


def test_each_account_sees_only_its_own_data(console_env: ConsoleEnv) -> None:
    with console_env.signed_in(key_id=console_env.other_key_id, secret=console_env.other_secret) as b:
        findings = b.get("/console/findings", params={"status": "all"})
        assert findings.status_code == 200
        assert "secret-cluster-of-b" in findings.text
        assert not any(fid[:8] in findings.text for fid in console_env.findings)
        agents = b.get("/console/agents").text
        assert "agent-of-b" in agents and "agent-healthy" not in agents
        mine = next(iter(console_env.findings))
        assert b.get("/console/finding", params={"id": mine}).status_code == 404
        page = b.get("/console/").text
        response = b.post(
            "/console/finding/archive", data={"id": mine, "action": "archive", "csrf": csrf_of(page)}
        )
        assert response.status_code == 404
        assert "agent-healthy" not in page and "Account 210987654321" in page
    assert console_env.store.get_findings(console_env.detector, [mine])[0]["service"]["archived"] is False
    with console_env.signed_in() as a:
        assert a.get("/console/finding", params={"id": console_env.other_finding}).status_code == 404
        assert "secret-cluster-of-b" not in a.get("/console/findings", params={"status": "all"}).text
