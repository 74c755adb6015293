"""An rtguard API server with several accounts: the organization's management account, accounts
created the way ``rtguard accounts create`` does, and boto3 GuardDuty clients for each."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from fastapi import FastAPI

from rtguard.api import mount_api
from rtguard.orgs.accounts import NewAccount, create_account
from rtguard.orgs.service import ensure_organization
from rtguard.store import SqlStore
from rtguard.testing.apiserver import serve_in_thread

REGION = "eu-west-1"
MANAGEMENT = "111122223333"
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@dataclass
class OrgEnv:
    """The server, its store, and the accounts made so far (by account id)."""

    url: str
    store: SqlStore
    management: NewAccount
    accounts: dict[str, NewAccount] = field(default_factory=dict)

    def client(self, account: NewAccount) -> Any:
        return boto3.client(
            "guardduty",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=account.aws_access_key_id,
            aws_secret_access_key=account.aws_secret_access_key,
            config=NO_RETRY,
        )

    def new_account(self, *, standalone: bool = False, runtime_monitoring: bool = False) -> NewAccount:
        made = create_account(
            self.store,
            management_account_id=MANAGEMENT,
            region=REGION,
            now_ms=int(time.time() * 1000),
            standalone=standalone,
            runtime_monitoring=runtime_monitoring,
        )
        self.accounts[made.account_id] = made
        return made

    def runtime_status(self, account: NewAccount) -> str:
        detector = self.store.get_detector(account.account_id, account.detector_id) or {}
        return str(next(f["status"] for f in detector["features"] if f["name"] == "RUNTIME_MONITORING"))


@pytest.fixture
def org(tmp_path: Any) -> Iterator[OrgEnv]:
    store = SqlStore(f"sqlite:///{tmp_path / 'rtguard.db'}")
    store.create_account(MANAGEMENT, REGION)
    detector = store.create_detector(MANAGEMENT)
    key_id, secret = store.create_access_key(MANAGEMENT)
    token = store.create_agent_token(MANAGEMENT)
    org_id = ensure_organization(store, MANAGEMENT, int(time.time() * 1000))
    management = NewAccount(MANAGEMENT, detector, REGION, key_id, secret, token, org_id, None)
    app = FastAPI()
    mount_api(app, store, REGION)
    with serve_in_thread(app) as url:
        yield OrgEnv(url=url, store=store, management=management)
    store.close()
