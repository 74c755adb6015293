"""Organizations through boto3: the management account designates a delegated administrator, the
administrator sets auto-enable, members join with or without an invitation, and the administrator
sees and archives its members' findings while members see only their own."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rtguard.orgs.accounts import NewAccount

from .conftest import MANAGEMENT, OrgEnv


def _bad_request(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] == "BadRequestException", error
    return str(error["Message"])


def _seed(org: OrgEnv, account: NewAccount, name: str) -> str:
    """Store a runtime finding of ``account`` (as the detection worker would); its id."""
    finding_id = hashlib.sha256(f"{account.account_id}/{name}".encode()).hexdigest()[:32]
    doc: dict[str, Any] = {
        "id": finding_id,
        "accountId": account.account_id,
        "region": "eu-west-1",
        "type": "Execution:Runtime/ReverseShell",
        "severity": 8.0,
        "title": f"reverse shell {name}",
        "createdAt": "2026-11-29T04:00:00.000Z",
        "updatedAt": "2026-11-29T04:00:00.000Z",
        "resource": {"resourceType": "ECSCluster"},
        "service": {"archived": False, "count": 1, "detectorId": account.detector_id},
    }
    org.store.upsert_finding(account.account_id, account.detector_id, finding_id, doc, doc["updatedAt"])
    return finding_id


def _designate(org: OrgEnv) -> tuple[NewAccount, Any]:
    admin = org.new_account()
    org.client(org.management).enable_organization_admin_account(AdminAccountId=admin.account_id)
    return admin, org.client(admin)


def test_only_the_management_account_designates_one_administrator(org: OrgEnv) -> None:
    a, b = org.new_account(), org.new_account()
    outsider = org.new_account(standalone=True)
    mgmt = org.client(org.management)
    assert mgmt.list_organization_admin_accounts()["AdminAccounts"] == []
    message = _bad_request(org.client(a).enable_organization_admin_account, AdminAccountId=a.account_id)
    assert "not the management account" in message
    message = _bad_request(mgmt.enable_organization_admin_account, AdminAccountId=outsider.account_id)
    assert f"{outsider.account_id} is not in organization" in message
    mgmt.enable_organization_admin_account(AdminAccountId=a.account_id)
    mgmt.enable_organization_admin_account(AdminAccountId=a.account_id)  # idempotent
    message = _bad_request(mgmt.enable_organization_admin_account, AdminAccountId=b.account_id)
    assert f"{a.account_id} is already the delegated administrator" in message
    admins = mgmt.list_organization_admin_accounts()["AdminAccounts"]
    assert admins == [{"AdminAccountId": a.account_id, "AdminStatus": "ENABLED"}]
    assert "not the management account" in _bad_request(org.client(a).list_organization_admin_accounts)


def test_auto_enable_new_covers_accounts_that_join_later_only(org: OrgEnv) -> None:
    before = org.new_account()
    admin, gd = _designate(org)
    config = gd.describe_organization_configuration(DetectorId=admin.detector_id)
    assert config["AutoEnableOrganizationMembers"] == "NONE"
    assert config["AutoEnable"] is False
    gd.update_organization_configuration(
        DetectorId=admin.detector_id,
        AutoEnableOrganizationMembers="NEW",
        Features=[{"Name": "RUNTIME_MONITORING", "AutoEnable": "NEW",
                   "AdditionalConfiguration": [{"Name": "ECS_FARGATE_AGENT_MANAGEMENT", "AutoEnable": "NEW"}]}],
    )  # fmt: skip
    config = gd.describe_organization_configuration(DetectorId=admin.detector_id)
    assert config["AutoEnableOrganizationMembers"] == "NEW"
    assert config["Features"][0]["AutoEnable"] == "NEW"
    after = org.new_account()
    assert after.member_of is not None and after.member_of.admin_account_id == admin.account_id
    members = {m["AccountId"]: m for m in gd.list_members(DetectorId=admin.detector_id)["Members"]}
    assert set(members) == {after.account_id}
    assert members[after.account_id]["RelationshipStatus"] == "Enabled"
    assert members[after.account_id]["DetectorId"] == after.detector_id
    assert members[after.account_id]["AdministratorId"] == admin.account_id
    assert org.runtime_status(after) == "ENABLED"
    assert org.runtime_status(before) == "DISABLED"  # NEW leaves existing accounts alone
    got = gd.get_member_detectors(
        DetectorId=admin.detector_id, AccountIds=[after.account_id, before.account_id]
    )
    feature = got["MemberDataSourceConfigurations"][0]["Features"][0]
    assert feature["Name"] == "RUNTIME_MONITORING" and feature["Status"] == "ENABLED"
    assert {c["Name"]: c["Status"] for c in feature["AdditionalConfiguration"]}[
        "ECS_FARGATE_AGENT_MANAGEMENT"
    ] == "ENABLED"
    assert [u["AccountId"] for u in got["UnprocessedAccounts"]] == [before.account_id]


def test_auto_enable_all_takes_everyone_and_locks_them_in(org: OrgEnv) -> None:
    existing = org.new_account()
    admin, gd = _designate(org)
    gd.update_organization_configuration(
        DetectorId=admin.detector_id,
        AutoEnableOrganizationMembers="ALL",
        Features=[{"Name": "RUNTIME_MONITORING", "AutoEnable": "ALL"}],
    )
    members = gd.list_members(DetectorId=admin.detector_id)["Members"]
    # The management account is an organization account too.
    assert {m["AccountId"] for m in members} == {existing.account_id, MANAGEMENT}
    assert org.runtime_status(existing) == "ENABLED"
    for op in (gd.disassociate_members, gd.stop_monitoring_members, gd.delete_members):
        out = op(DetectorId=admin.detector_id, AccountIds=[existing.account_id])
        assert "auto-enable setting is ALL" in out["UnprocessedAccounts"][0]["Result"]
    member = org.client(existing)
    message = _bad_request(member.disassociate_from_administrator_account, DetectorId=existing.detector_id)
    assert "ALL" in message
    # NONE enables nobody new and disables nobody.
    gd.update_organization_configuration(DetectorId=admin.detector_id, AutoEnableOrganizationMembers="NONE")
    late = org.new_account()
    assert late.member_of is None
    assert org.runtime_status(existing) == "ENABLED"
    out = gd.disassociate_members(DetectorId=admin.detector_id, AccountIds=[existing.account_id])
    assert out["UnprocessedAccounts"] == []
    status = gd.get_members(DetectorId=admin.detector_id, AccountIds=[existing.account_id])["Members"][0]
    assert status["RelationshipStatus"] == "Removed"


def test_administrator_sees_and_archives_member_findings_members_see_their_own(org: OrgEnv) -> None:
    admin, gd = _designate(org)
    member = org.new_account()
    other = org.new_account()  # in the organization but not a member
    gd.create_members(DetectorId=admin.detector_id,
                      AccountDetails=[{"AccountId": member.account_id, "Email": "m@example.com"}])  # fmt: skip
    own = _seed(org, admin, "admin")
    theirs = _seed(org, member, "member")
    unrelated = _seed(org, other, "other")
    listed = set(gd.list_findings(DetectorId=admin.detector_id)["FindingIds"])
    assert listed == {own, theirs}
    only_member = gd.list_findings(
        DetectorId=admin.detector_id,
        FindingCriteria={"Criterion": {"accountId": {"Eq": [member.account_id]}}},
    )["FindingIds"]
    assert only_member == [theirs]
    docs = gd.get_findings(DetectorId=admin.detector_id, FindingIds=[theirs, unrelated])["Findings"]
    assert [d["AccountId"] for d in docs] == [member.account_id]
    counts = gd.get_findings_statistics(
        DetectorId=admin.detector_id, FindingStatisticTypes=["COUNT_BY_SEVERITY"]
    )["FindingStatistics"]["CountBySeverity"]
    assert sum(counts.values()) == 2
    mine = org.client(member)
    assert mine.list_findings(DetectorId=member.detector_id)["FindingIds"] == [theirs]
    message = _bad_request(mine.archive_findings, DetectorId=member.detector_id, FindingIds=[theirs])
    assert "member accounts don't have permission to archive" in message
    gd.archive_findings(DetectorId=admin.detector_id, FindingIds=[theirs, unrelated])
    seen = mine.get_findings(DetectorId=member.detector_id, FindingIds=[theirs])["Findings"][0]
    assert seen["Service"]["Archived"] is True
    untouched = org.client(other).get_findings(DetectorId=other.detector_id, FindingIds=[unrelated])
    assert untouched["Findings"][0]["Service"]["Archived"] is False
    # Stopped members leave the administrator's view; started ones come back.
    gd.stop_monitoring_members(DetectorId=admin.detector_id, AccountIds=[member.account_id])
    assert gd.list_findings(DetectorId=admin.detector_id)["FindingIds"] == [own]
    gd.start_monitoring_members(DetectorId=admin.detector_id, AccountIds=[member.account_id])
    assert set(gd.list_findings(DetectorId=admin.detector_id)["FindingIds"]) == {own, theirs}


def test_invitation_flow_for_an_account_outside_the_organization(org: OrgEnv) -> None:
    admin, gd = _designate(org)
    outsider = org.new_account(standalone=True)
    rival = org.new_account(standalone=True)
    them = org.client(outsider)
    gd.create_members(DetectorId=admin.detector_id,
                      AccountDetails=[{"AccountId": outsider.account_id, "Email": "o@example.com"}])  # fmt: skip
    listed = gd.list_members(DetectorId=admin.detector_id, OnlyAssociated="false")["Members"]
    assert [(m["AccountId"], m["RelationshipStatus"]) for m in listed] == [(outsider.account_id, "Created")]
    assert gd.list_members(DetectorId=admin.detector_id)["Members"] == []  # not associated yet
    assert them.get_invitations_count()["InvitationsCount"] == 0
    gd.invite_members(DetectorId=admin.detector_id, AccountIds=[outsider.account_id], Message="join us")
    invitations = them.list_invitations()["Invitations"]
    assert [(i["AccountId"], i["RelationshipStatus"]) for i in invitations] == [(admin.account_id, "Invited")]
    assert them.get_invitations_count()["InvitationsCount"] == 1
    message = _bad_request(them.accept_administrator_invitation, DetectorId=outsider.detector_id,
                           AdministratorId=admin.account_id, InvitationId="f" * 32)  # fmt: skip
    assert "no pending invitation" in message
    them.accept_administrator_invitation(
        DetectorId=outsider.detector_id,
        AdministratorId=admin.account_id,
        InvitationId=invitations[0]["InvitationId"],
    )
    assert them.get_invitations_count()["InvitationsCount"] == 0
    got = them.get_administrator_account(DetectorId=outsider.detector_id)["Administrator"]
    assert (got["AccountId"], got["RelationshipStatus"]) == (admin.account_id, "Enabled")
    assert them.get_master_account(DetectorId=outsider.detector_id)["Master"]["AccountId"] == admin.account_id
    # A second administrator cannot take an associated member.
    rival_gd = org.client(rival)
    rival_gd.create_members(DetectorId=rival.detector_id,
                            AccountDetails=[{"AccountId": outsider.account_id, "Email": "o@example.com"}])  # fmt: skip
    rival_gd.invite_members(DetectorId=rival.detector_id, AccountIds=[outsider.account_id])
    pending = them.list_invitations()["Invitations"]
    assert [i["AccountId"] for i in pending] == [rival.account_id]
    message = _bad_request(them.accept_administrator_invitation, DetectorId=outsider.detector_id,
                           AdministratorId=rival.account_id, InvitationId=pending[0]["InvitationId"])  # fmt: skip
    assert f"already a member of administrator {admin.account_id}" in message
    them.decline_invitations(AccountIds=[rival.account_id])
    assert them.list_invitations()["Invitations"] == []
    them.disassociate_from_administrator_account(DetectorId=outsider.detector_id)
    status = gd.get_members(DetectorId=admin.detector_id, AccountIds=[outsider.account_id])["Members"][0]
    assert status["RelationshipStatus"] == "Resigned"
    gd.delete_members(DetectorId=admin.detector_id, AccountIds=[outsider.account_id])
    assert gd.list_members(DetectorId=admin.detector_id, OnlyAssociated="false")["Members"] == []


def test_member_detectors_and_organization_statistics(org: OrgEnv) -> None:
    admin, gd = _designate(org)
    a, b = org.new_account(), org.new_account()
    gd.create_members(DetectorId=admin.detector_id, AccountDetails=[
        {"AccountId": a.account_id, "Email": "a@example.com"}, {"AccountId": b.account_id, "Email": "b@example.com"}])  # fmt: skip
    assert org.runtime_status(a) == "DISABLED"  # auto-enable is NONE: membership alone turns nothing on
    out = gd.update_member_detectors(
        DetectorId=admin.detector_id,
        AccountIds=[a.account_id],
        Features=[{"Name": "RUNTIME_MONITORING", "Status": "ENABLED",
                   "AdditionalConfiguration": [{"Name": "EC2_AGENT_MANAGEMENT", "Status": "ENABLED"}]}],
    )  # fmt: skip
    assert out["UnprocessedAccounts"] == []
    assert org.runtime_status(a) == "ENABLED" and org.runtime_status(b) == "DISABLED"
    stats = gd.get_organization_statistics()["OrganizationDetails"]["OrganizationStatistics"]
    assert stats["TotalAccountsCount"] == 4  # management, admin, a, b
    assert stats["MemberAccountsCount"] == 2
    assert stats["ActiveAccountsCount"] == 2
    assert stats["EnabledAccountsCount"] == 1  # a; the administrator's own detector has it off
    by_feature = stats["CountByFeature"][0]
    extra = {c["Name"]: c["EnabledAccountsCount"] for c in by_feature["AdditionalConfiguration"]}
    assert extra["EC2_AGENT_MANAGEMENT"] >= 1
    assert "not the delegated administrator" in _bad_request(org.client(a).get_organization_statistics)
    # An organization member cannot change the features its administrator manages.
    message = _bad_request(org.client(a).update_detector, DetectorId=a.detector_id,
                           Features=[{"Name": "RUNTIME_MONITORING", "Status": "DISABLED"}])  # fmt: skip
    assert "member account can't modify this configuration" in message
    org.client(a).update_detector(DetectorId=a.detector_id, FindingPublishingFrequency="FIFTEEN_MINUTES")
    assert org.runtime_status(a) == "ENABLED"


def test_bad_requests_get_clear_errors(org: OrgEnv) -> None:
    admin, gd = _designate(org)
    det = admin.detector_id
    assert "12-digit" in _bad_request(gd.get_members, DetectorId=det, AccountIds=["12345678901x"])
    many = [f"{100000000000 + i}" for i in range(51)]
    assert "at most 50" in _bad_request(gd.get_members, DetectorId=det, AccountIds=many)
    out = gd.create_members(DetectorId=det, AccountDetails=[
        {"AccountId": "999999999999", "Email": "x@example.com"},
        {"AccountId": admin.account_id, "Email": "self@example.com"}])  # fmt: skip
    results = {u["AccountId"]: u["Result"] for u in out["UnprocessedAccounts"]}
    assert "does not exist" in results["999999999999"]
    assert "itself" in results[admin.account_id]
    message = _bad_request(gd.update_organization_configuration, DetectorId=det,
                           AutoEnableOrganizationMembers="SOMETIMES")  # fmt: skip
    assert "NEW, ALL, NONE" in message
    message = _bad_request(gd.update_organization_configuration, DetectorId=det,
                           AutoEnable=False, AutoEnableOrganizationMembers="ALL")  # fmt: skip
    assert "contradicts" in message
    message = _bad_request(gd.list_members, DetectorId="0" * 32)
    assert "not owned" in message
