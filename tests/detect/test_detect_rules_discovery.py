"""Scenario tests for RTG-0009..0013 Discovery:Runtime/SuspiciousCommand, positive and negative."""

from __future__ import annotations

import pytest

from rtguard.detect import build_engine
from rtguard.model.events import Event
from rtguard.model.findings import FINDING_TYPES_BY_NAME, Detection
from rtguard.testing.events import exec_event

DISCOVERY = "Discovery:Runtime/SuspiciousCommand"
ENGINE, _ = build_engine()


def discovery_detections(event: Event) -> list[Detection]:
    return [d for d in ENGINE.evaluate(event) if d.finding_type == DISCOVERY]


@pytest.mark.parametrize(
    ("argv", "rule_id"),
    [
        (["curl", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"], "RTG-0009"),
        (
            ["curl", "-s", "http://169.254.169.254/latest/meta-data/iam/security-credentials/app-role"],
            "RTG-0009",
        ),
        (
            ["wget", "-qO-", "http://169.254.170.2/v2/credentials/6d3c1a2b-0000-4000-8000-000000000000"],
            "RTG-0009",
        ),
        (["curl", "http://[fd00:ec2::254]/latest/meta-data/iam/info"], "RTG-0009"),
        (
            ["curl", "-H", "X-aws-ec2-metadata-token: t", "http://169.254.169.254/latest/user-data"],
            "RTG-0009",
        ),
        (["curl", "http://169.254.170.23/v1/credentials"], "RTG-0009"),
        (["aws", "sts", "get-caller-identity"], "RTG-0010"),
        (["aws", "--region", "us-east-1", "iam", "get-account-authorization-details"], "RTG-0010"),
        (["kubectl", "auth", "can-i", "--list"], "RTG-0011"),
        (["kubectl", "auth", "whoami"], "RTG-0011"),
        (["ls", "-la", "/var/run/secrets/kubernetes.io/serviceaccount"], "RTG-0012"),
        (["find", "/run/secrets/kubernetes.io"], "RTG-0012"),
        (["ls", "/var/run/secrets/eks.amazonaws.com/serviceaccount/"], "RTG-0012"),
        (["find", "/", "-perm", "-4000", "-type", "f"], "RTG-0013"),
        (["find", "/usr", "-perm", "/u=s"], "RTG-0013"),
    ],
)
def test_recon_commands_are_detected(argv: list[str], rule_id: str) -> None:
    (d,) = discovery_detections(exec_event(argv[0], argv=argv))
    assert d.rule_id == rule_id
    assert d.context == {"commandLineExample": " ".join(argv)}
    assert d.severity is None and FINDING_TYPES_BY_NAME[DISCOVERY].severity == 2.0
    assert d.artifact == f"/usr/bin/{argv[0]}"


@pytest.mark.parametrize(
    "argv",
    [
        ["curl", "http://169.254.169.254/latest/meta-data/instance-id"],
        ["curl", "-s", "http://169.254.170.2/v4/0123456789abcdef-1234567890/task"],
        ["curl", "https://example.com/latest/meta-data/iam"],
        ["python3", "fetch.py", "http://169.254.169.254/latest/meta-data/iam/"],
        ["aws", "s3", "cp", "report.csv", "s3://bucket/"],
        ["aws", "sts", "assume-role", "--role-arn", "arn:aws:iam::123456789012:role/x"],
        ["kubectl", "get", "pods"],
        ["kubectl", "auth", "reconcile", "-f", "rbac.yaml"],
        ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"],
        ["ls", "/var/run/secrets/kubernetes.io-backup"],
        ["find", ".", "-name", "*.pyc"],
        ["find", "/srv", "-perm", "644"],
    ],
)
def test_ordinary_use_of_the_same_programs_does_not_fire(argv: list[str]) -> None:
    assert discovery_detections(exec_event(argv[0], argv=argv)) == []


def test_a_busybox_applet_and_a_python_aws_cli_are_recognised() -> None:
    wget = exec_event(
        "busybox",
        argv=["wget", "-qO-", "http://169.254.170.2/v2/credentials/x"],
        exe_path="/bin/busybox",
        filename="/usr/bin/wget",
    )
    assert [d.rule_id for d in discovery_detections(wget)] == ["RTG-0009"]
    aws_v1 = exec_event(
        "python3.11",
        argv=["/usr/bin/python3", "/usr/local/bin/aws", "sts", "get-caller-identity"],
        exe_path="/usr/bin/python3.11",
        filename="/usr/local/bin/aws",
    )
    assert [d.rule_id for d in discovery_detections(aws_v1)] == ["RTG-0010"]
