"""The AWS CLI drives the lifecycle operations: filters, samples, archive, lists and detector updates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import REGION, LifecycleEnv

AWS = Path(sys.executable).parent / "aws"


def _aws(env: LifecycleEnv, *args: str) -> Any:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(Path.home()),
        "AWS_ACCESS_KEY_ID": env.key_id,
        "AWS_SECRET_ACCESS_KEY": env.secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    command = [str(AWS), "guardduty", *args, "--endpoint-url", env.url, "--output", "json"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_cli_lifecycle(env: LifecycleEnv, tmp_path: Path) -> None:
    det = env.detector
    criteria = json.dumps({"Criterion": {"type": {"Matches": ["Discovery:*"]}}})
    _aws(env, "create-filter", "--detector-id", det, "--name", "quiet-recon", "--action", "ARCHIVE",
         "--rank", "1", "--finding-criteria", criteria)  # fmt: skip
    assert _aws(env, "list-filters", "--detector-id", det)["FilterNames"] == ["quiet-recon"]
    _aws(env, "create-sample-findings", "--detector-id", det, "--finding-types",
         "Discovery:Runtime/SuspiciousCommand", "Execution:Runtime/ReverseShell")  # fmt: skip
    archived = _aws(env, "list-findings", "--detector-id", det, "--finding-criteria",
                    json.dumps({"Criterion": {"service.archived": {"Eq": ["true"]}}}))["FindingIds"]  # fmt: skip
    found = _aws(env, "get-findings", "--detector-id", det, "--finding-ids", *archived)["Findings"]
    assert [f["Type"] for f in found] == ["Discovery:Runtime/SuspiciousCommand"]
    shell = _aws(env, "list-findings", "--detector-id", det, "--finding-criteria",
                 json.dumps({"Criterion": {"service.archived": {"Eq": ["false"]}}}))["FindingIds"]  # fmt: skip
    _aws(env, "archive-findings", "--detector-id", det, "--finding-ids", *shell)
    _aws(
        env, "update-findings-feedback", "--detector-id", det, "--finding-ids", *shell, "--feedback", "USEFUL"
    )
    lst = tmp_path / "threats.txt"
    lst.write_text("# bad hosts\n198.51.100.0/24\nevil.example\n")
    created = _aws(env, "create-threat-intel-set", "--detector-id", det, "--name", "bad", "--format", "TXT",
                   "--location", str(lst), "--activate")  # fmt: skip
    got = _aws(
        env,
        "get-threat-intel-set",
        "--detector-id",
        det,
        "--threat-intel-set-id",
        created["ThreatIntelSetId"],
    )
    assert got["Status"] == "ACTIVE"
    _aws(env, "update-detector", "--detector-id", det, "--finding-publishing-frequency", "FIFTEEN_MINUTES",
         "--features", "Name=RUNTIME_MONITORING,Status=ENABLED,AdditionalConfiguration=[{Name=ECS_FARGATE_AGENT_MANAGEMENT,Status=DISABLED}]")  # fmt: skip
    detector = _aws(env, "get-detector", "--detector-id", det)
    assert detector["FindingPublishingFrequency"] == "FIFTEEN_MINUTES"
    [runtime] = [f for f in detector["Features"] if f["Name"] == "RUNTIME_MONITORING"]
    fargate = [c for c in runtime["AdditionalConfiguration"] if c["Name"] == "ECS_FARGATE_AGENT_MANAGEMENT"]
    assert fargate[0]["Status"] == "DISABLED"
