"""The multi-account tables: one organization per account, one associated administrator per
member (enforced in the write transaction), and an upgrade from a database made before them."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from rtguard.store import SqlStore
from rtguard.store.org_types import Member, MemberConflictError, OrgAccount, OrgConfig
from rtguard.store.schema import SCHEMA_VERSION


def _member(admin: str, account: str, status: str) -> Member:
    return Member(admin, account, f"{account}@example.com", status, False, None, None, 1)


def test_an_account_joins_one_organization_and_the_management_account_creates_its_config(
    tmp_path: Path,
) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert store.join_org(OrgAccount("111111111111", "o-abc", True, 1, "m@example.com"))
    assert store.join_org(OrgAccount("222222222222", "o-abc", False, 2, "a@example.com"))
    assert not store.join_org(OrgAccount("222222222222", "o-other", False, 3, "a@example.com"))
    assert [a.account_id for a in store.org_accounts("o-abc")] == ["111111111111", "222222222222"]
    config = store.org_config("o-abc")
    assert config == OrgConfig("o-abc", None, "NONE", (), 1)
    store.save_org_config(OrgConfig("o-abc", "222222222222", "ALL", ({"name": "RUNTIME_MONITORING"},), 5))
    assert store.org_config("o-abc") == OrgConfig(
        "o-abc", "222222222222", "ALL", ({"name": "RUNTIME_MONITORING"},), 5
    )
    store.close()


def test_a_member_is_associated_with_one_administrator_at_a_time(db_url: str) -> None:
    store = SqlStore(db_url)
    store.put_member(_member("111111111111", "333333333333", "Enabled"))
    store.put_member(_member("222222222222", "333333333333", "Invited"))  # invitations may pile up
    with pytest.raises(MemberConflictError) as caught:
        store.put_member(_member("222222222222", "333333333333", "Enabled"))
    assert caught.value.admin_account_id == "111111111111"
    assert store.get_member("222222222222", "333333333333") == _member(
        "222222222222", "333333333333", "Invited"
    )
    store.put_member(_member("111111111111", "333333333333", "Removed"))
    store.put_member(_member("222222222222", "333333333333", "Enabled"))
    assert store.enabled_members("222222222222") == ["333333333333"]
    assert store.enabled_members("111111111111") == []
    assert [m.admin_account_id for m in store.memberships("333333333333")] == ["111111111111", "222222222222"]
    assert store.delete_member("111111111111", "333333333333")
    assert not store.delete_member("111111111111", "333333333333")
    store.close()


def test_a_version_3_database_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SqlStore(f"sqlite:///{path}")
    store.create_account("123456789012", "us-east-1")
    detector = store.create_detector("123456789012")
    store.close()
    with sqlite3.connect(path) as raw:  # what a release before organizations left behind
        for table in ("members", "org_config", "org_accounts"):
            raw.execute(f"DROP TABLE {table}")
        raw.execute("UPDATE schema_version SET version = 3")
    store = SqlStore(f"sqlite:///{path}")
    assert store.list_detectors("123456789012") == [detector]
    assert store.org_account("123456789012") is None
    assert store.join_org(OrgAccount("123456789012", "o-new", True, 1, "m@example.com"))
    store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_racing_administrators_cannot_both_take_one_member(db_url: str) -> None:
    stores = [SqlStore(db_url) for _ in range(8)]  # separate connections, as separate processes have
    start = threading.Barrier(len(stores))
    won: list[str] = []

    def claim(i: int) -> None:
        admin = f"9000000000{i:02d}"
        start.wait()
        try:
            stores[i].put_member(_member(admin, "333333333333", "Enabled"))
            won.append(admin)
        except MemberConflictError:
            pass

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    associated = [m.admin_account_id for m in stores[0].memberships("333333333333") if m.status == "Enabled"]
    assert len(won) == 1 and associated == won
    for s in stores:
        s.close()
