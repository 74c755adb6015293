"""The AWS CLI (awscli, which signs with botocore) against rtguard's GuardDuty API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import REGION, ApiEnv

AWS = Path(sys.executable).parent / "aws"


def _aws(env: ApiEnv, *args: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(Path.home()),
        "AWS_ACCESS_KEY_ID": env.key_id,
        "AWS_SECRET_ACCESS_KEY": secret or env.secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    command = [str(AWS), "guardduty", *args, "--endpoint-url", env.url, "--output", "json"]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)


def test_cli_lists_and_gets_findings(api_env: ApiEnv) -> None:
    criteria = json.dumps({"Criterion": {"type": {"Eq": ["Execution:Runtime/ReverseShell"]}}})
    listed = _aws(api_env, "list-findings", "--detector-id", api_env.detector, "--finding-criteria", criteria)
    assert listed.returncode == 0, listed.stderr
    ids: list[str] = json.loads(listed.stdout)["FindingIds"]
    expected = {i for i, d in api_env.findings.items() if d["type"] == "Execution:Runtime/ReverseShell"}
    assert set(ids) == expected and expected
    got = _aws(api_env, "get-findings", "--detector-id", api_env.detector, "--finding-ids", *ids)
    assert got.returncode == 0, got.stderr
    findings: list[dict[str, Any]] = json.loads(got.stdout)["Findings"]
    assert {f["Type"] for f in findings} == {"Execution:Runtime/ReverseShell"}
    assert all(f["Service"]["RuntimeDetails"]["Process"]["Name"] == "bash" for f in findings)


def test_cli_with_a_wrong_secret_is_denied(api_env: ApiEnv) -> None:
    result = _aws(api_env, "list-detectors", secret="x" * 40)
    assert result.returncode != 0
    assert "AccessDeniedException" in result.stderr
