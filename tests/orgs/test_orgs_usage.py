"""Usage across an organization: the administrator sees its Enabled members' usage and free
trial (priced per account), a member sees only its own, and other accounts are refused."""

from __future__ import annotations

import math
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rtguard.orgs.accounts import NewAccount
from rtguard.store.usage import Accrual, UsageCredit

from .conftest import OrgEnv

EC2 = "EC2_RUNTIME_MONITORING"


def _seed_usage(org: OrgEnv, account: NewAccount, resource: str, vcpu_seconds: float) -> None:
    """One hour of stored usage and a started trial, as metering would have saved them."""
    now = org.store.usage_now()
    hour = math.floor(now / 3600) * 3600 - 3600
    credit = UsageCredit(account_id=account.account_id, feature=EC2, resource=resource, hour=hour,
                         vcpu_seconds=vcpu_seconds)  # fmt: skip
    done = Accrual(outcome="credited", credits=(credit,), trial=(account.account_id, EC2, now - 3 * 86400))
    org.store.accrue_usage(f"agent-{resource}", lambda _prev, _mark: done)


def _by_account(gd: Any, detector: str, **criteria: Any) -> dict[str, str]:
    got = gd.get_usage_statistics(DetectorId=detector, UsageStatisticType="SUM_BY_ACCOUNT",
                                  UsageCriteria=criteria, Unit="VCPU_HOURS")  # fmt: skip
    return {r["AccountId"]: r["Total"]["Amount"] for r in got["UsageStatistics"]["SumByAccount"]}


def test_administrator_sees_member_usage_members_see_their_own(org: OrgEnv) -> None:
    admin = org.new_account()
    org.client(org.management).enable_organization_admin_account(AdminAccountId=admin.account_id)
    gd = org.client(admin)
    member, other = org.new_account(), org.new_account()
    gd.create_members(DetectorId=admin.detector_id,
                      AccountDetails=[{"AccountId": member.account_id, "Email": "m@example.com"}])  # fmt: skip
    _seed_usage(org, admin, "i-admin", 3600.0 * 2)
    _seed_usage(org, member, "i-member", 3600.0 * 4)
    _seed_usage(org, other, "i-other", 3600.0 * 8)
    assert _by_account(gd, admin.detector_id) == {
        admin.account_id: "2.00000000",
        member.account_id: "4.00000000",
    }
    assert _by_account(gd, admin.detector_id, AccountIds=[member.account_id]) == {
        member.account_id: "4.00000000"
    }
    top = gd.get_usage_statistics(DetectorId=admin.detector_id, UsageStatisticType="TOP_ACCOUNTS_BY_FEATURE",
                                  UsageCriteria={})["UsageStatistics"]["TopAccountsByFeature"]  # fmt: skip
    assert [a["AccountId"] for a in top[0]["Accounts"]] == [member.account_id, admin.account_id]
    with pytest.raises(ClientError) as err:
        _by_account(gd, admin.detector_id, AccountIds=[other.account_id])
    assert f"cannot access usage of account(s) {other.account_id}" in err.value.response["Error"]["Message"]
    trial = gd.get_remaining_free_trial_days(
        DetectorId=admin.detector_id, AccountIds=[member.account_id, other.account_id]
    )
    assert [a["AccountId"] for a in trial["Accounts"]] == [member.account_id]
    assert {f["Name"]: f["FreeTrialDaysRemaining"] for f in trial["Accounts"][0]["Features"]}[EC2] == 27
    assert [u["AccountId"] for u in trial["UnprocessedAccounts"]] == [other.account_id]
    # The member sees only itself; once monitoring of it stops, the administrator no longer does.
    mine = org.client(member)
    assert _by_account(mine, member.detector_id) == {member.account_id: "4.00000000"}
    with pytest.raises(ClientError):
        _by_account(mine, member.detector_id, AccountIds=[admin.account_id])
    gd.stop_monitoring_members(DetectorId=admin.detector_id, AccountIds=[member.account_id])
    assert _by_account(gd, admin.detector_id) == {admin.account_id: "2.00000000"}
