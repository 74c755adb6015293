"""``rtguard accounts create`` and ``list`` as a user runs them against a server's data directory,
and the new account's credentials used with the AWS CLI (enable an administrator, list members)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from rtguard.api import mount_api
from rtguard.server import ServerConfig, bootstrap, load_credentials
from rtguard.store import SqlStore
from rtguard.testing.apiserver import serve_in_thread

AWS = Path(sys.executable).parent / "aws"


def _rtguard(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    command = [sys.executable, "-m", "rtguard.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)


def _aws(url: str, cred: Any, *args: str) -> dict[str, Any]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(Path.home()),
        "AWS_ACCESS_KEY_ID": cred.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": cred.aws_secret_access_key,
        "AWS_DEFAULT_REGION": cred.region,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    command = [str(AWS), "guardduty", *args, "--endpoint-url", url, "--output", "json"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_accounts_create_and_list_then_use_them_with_the_aws_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = ServerConfig(data_dir=data)
    data.mkdir()
    store = SqlStore(config.resolved_store_url())
    management = bootstrap(store, config)
    created = _rtguard("accounts", "create", "--data-dir", str(data), "--email", "sec@example.com")
    assert created.returncode == 0, created.stderr
    files = sorted((data / "accounts").glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    admin = load_credentials(files[0])
    assert admin.account_id in created.stdout and "organization o-" in created.stdout
    assert admin.endpoint_url == management.endpoint_url
    member_out = tmp_path / "member.json"
    made = _rtguard(
        "accounts", "create", "--data-dir", str(data), "--runtime-monitoring", "-o", str(member_out)
    )
    assert made.returncode == 0, made.stderr
    member = load_credentials(member_out)

    app = FastAPI()
    mount_api(app, store, config.region)
    with serve_in_thread(app) as url:
        _aws(url, management, "enable-organization-admin-account", "--admin-account-id", admin.account_id)
        details = json.dumps([{"AccountId": member.account_id, "Email": "m@example.com"}])
        out = _aws(
            url, admin, "create-members", "--detector-id", admin.detector_id, "--account-details", details
        )
        assert out["UnprocessedAccounts"] == []
        listed = _aws(url, admin, "list-members", "--detector-id", admin.detector_id)
        assert [(m["AccountId"], m["RelationshipStatus"]) for m in listed["Members"]] == [
            (member.account_id, "Enabled")
        ]
    store.close()

    shown = _rtguard("accounts", "list", "--data-dir", str(data))
    assert shown.returncode == 0, shown.stderr
    lines = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") > 3}
    assert "management" in lines[management.account_id]
    assert "delegated administrator" in lines[admin.account_id]
    assert admin.account_id in lines[member.account_id] and "ENABLED" in lines[member.account_id]


def test_accounts_without_a_server_data_directory_say_what_to_do(tmp_path: Path) -> None:
    done = _rtguard("accounts", "list", "--data-dir", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert "rtguard server" in done.stdout + done.stderr
