"""Errors of the GuardDuty API: operations not implemented yet, unknown paths, bugs, and the
router living next to other (differently authenticated) routes in one app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from fastapi import FastAPI

from rtguard.api import MODEL_OPERATIONS, build_api, mount_api
from rtguard.api.operations import IMPLEMENTED
from rtguard.store import SqlStore
from rtguard.testing.apiserver import serve_in_thread

from .conftest import ACCOUNT, NO_RETRY, REGION, ApiEnv


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("describe_malware_scans", {"DetectorId": "DET"}),
        ("get_malware_scan_settings", {"DetectorId": "DET"}),
        ("list_malware_protection_plans", {}),
        ("get_malware_protection_plan", {"MalwareProtectionPlanId": "plan"}),
        ("list_tags_for_resource", {"ResourceArn": f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/DET"}),
    ],
)
def test_operations_not_implemented_yet_answer_cleanly(
    api_env: ApiEnv, gd: Any, operation: str, kwargs: dict[str, Any]
) -> None:
    resolved = {
        k: (v.replace("DET", api_env.detector) if isinstance(v, str) else v) for k, v in kwargs.items()
    }
    with pytest.raises(ClientError) as caught:
        getattr(gd, operation)(**resolved)
    error = caught.value.response["Error"]
    assert error["Code"] == "BadRequestException"
    name = caught.value.operation_name
    assert error["Message"] == f"operation {name} is not implemented by rtguard yet"


def test_every_model_operation_has_a_route() -> None:
    store = SqlStore("sqlite://")
    router = build_api(store, REGION)
    store.close()
    names = {getattr(route, "name", None) for route in router.routes}
    assert names == {op.name for op in MODEL_OPERATIONS}
    assert len(MODEL_OPERATIONS) > 50 and set(IMPLEMENTED) <= names


@pytest.mark.parametrize("path", ["/nope", "/detector/abc/not-a-thing", "/agent/v2/x"])
def test_unknown_paths_are_json_404(api_env: ApiEnv, path: str) -> None:
    response = httpx.get(api_env.url + path)
    assert response.status_code == 404
    body = response.json()
    assert body["__type"] == "NotFoundException" and path in body["message"]


def test_wrong_method_is_json_405(api_env: ApiEnv) -> None:
    response = httpx.request("PUT", api_env.url + "/detector")
    assert response.status_code == 405
    assert response.json()["__type"] == "MethodNotAllowedException"


class _BrokenStore(SqlStore):
    def query_findings(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom: secret internal detail")


def test_bugs_become_internal_server_errors_without_traces(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = _BrokenStore(f"sqlite:///{tmp_path / 'broken.db'}")
    store.create_account(ACCOUNT, REGION)
    key_id, secret = store.create_access_key(ACCOUNT)
    detector = store.create_detector(ACCOUNT)
    app = FastAPI()
    mount_api(app, store, REGION)
    with serve_in_thread(app) as url:
        client = boto3.client(
            "guardduty",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=NO_RETRY,
        )
        with pytest.raises(ClientError) as caught:
            client.list_findings(DetectorId=detector)
        assert client.list_detectors()["DetectorIds"] == [detector]  # the server is still up
    response = caught.value.response
    assert response["Error"]["Code"] == "InternalServerErrorException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "boom" not in response["Error"]["Message"] and "Traceback" not in response["Error"]["Message"]
    assert any("api operation failed" in r.getMessage() for r in caplog.records)
    store.close()


def test_router_authenticates_only_its_own_routes(tmp_path: Any) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'mixed.db'}")
    store.create_account(ACCOUNT, REGION)
    app = FastAPI()

    @app.get("/agent/v1/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    mount_api(app, store, REGION)
    with serve_in_thread(app) as url:
        assert httpx.get(url + "/agent/v1/ping").json() == {"pong": "yes"}
        assert httpx.get(url + "/detector").status_code == 403
    store.close()


def test_oversized_bodies_are_refused_before_authentication(api_env: ApiEnv) -> None:
    big = b"{" + b" " * (1 << 20) + b"}"
    response = httpx.post(api_env.url + f"/detector/{api_env.detector}/findings", content=big)
    assert response.status_code == 400
    assert "larger than" in response.json()["message"]

    def chunks() -> Iterator[bytes]:  # no content-length: the streamed size is what counts
        for _ in range(20):
            yield b" " * 65536

    streamed = httpx.post(api_env.url + f"/detector/{api_env.detector}/findings", content=chunks())
    assert streamed.status_code == 400
