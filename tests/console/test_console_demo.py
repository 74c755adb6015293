"""What ``rtguard demo`` prints about the console: an address that really serves the sign-in
page, the access key id to use, and where the secret is, without printing the secret."""

from __future__ import annotations

from pathlib import Path

from rtguard.demo import console_hint_lines

from .conftest import ConsoleEnv, sign_in


def test_demo_prints_a_working_console_address_and_how_to_sign_in(
    console_env: ConsoleEnv, tmp_path: Path
) -> None:
    cred = {
        "endpoint_url": console_env.url,
        "aws_access_key_id": console_env.key_id,
        "aws_secret_access_key": console_env.secret,
    }
    lines = console_hint_lines(cred, tmp_path / "credentials.json")
    text = "\n".join(lines)
    assert console_env.secret not in text
    assert console_env.key_id in text and str(tmp_path / "credentials.json") in text
    address = lines[0].removeprefix("Web console: ")
    assert address == f"{console_env.url}/console/"
    with console_env.client() as client:
        first = client.get(address)
        assert first.status_code == 303 and first.headers["location"].startswith("/console/login")
        assert client.get(first.headers["location"]).status_code == 200
        signed = sign_in(client, console_env.key_id, console_env.secret)
        assert signed.status_code == 303
        assert client.get(address).status_code == 200
