"""ListDetectors and GetDetector through boto3."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .conftest import ACCOUNT, ApiEnv


def test_list_detectors(api_env: ApiEnv, gd: Any) -> None:
    assert gd.list_detectors()["DetectorIds"] == [api_env.detector]


def test_list_detectors_pages(api_env: ApiEnv) -> None:
    other = "210987654321"
    api_env.store.create_account(other, "us-west-2")
    key_id, secret = api_env.store.create_access_key(other)
    created = [api_env.store.create_detector(other) for _ in range(5)]
    client = api_env.client(key_id=key_id, secret=secret)
    first = client.list_detectors(MaxResults=2)
    assert len(first["DetectorIds"]) == 2 and first["NextToken"]
    pages = client.get_paginator("list_detectors").paginate(PaginationConfig={"PageSize": 2})
    ids = [d for page in pages for d in page["DetectorIds"]]
    assert ids == created
    # Another account's detectors are invisible, and its keys do not see ours.
    assert api_env.detector not in ids


def test_get_detector(api_env: ApiEnv, gd: Any) -> None:
    detector = gd.get_detector(DetectorId=api_env.detector)
    assert detector["Status"] == "ENABLED"
    assert detector["FindingPublishingFrequency"] == "SIX_HOURS"
    assert detector["ServiceRole"].startswith(f"arn:aws:iam::{ACCOUNT}:role/")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", detector["CreatedAt"])
    (runtime,) = detector["Features"]
    assert runtime["Name"] == "RUNTIME_MONITORING" and runtime["Status"] == "ENABLED"
    assert isinstance(runtime["UpdatedAt"], datetime)
    extra = {c["Name"]: c["Status"] for c in runtime["AdditionalConfiguration"]}
    assert set(extra) == {"ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT", "EKS_ADDON_MANAGEMENT"}
    assert extra["ECS_FARGATE_AGENT_MANAGEMENT"] == "ENABLED"
