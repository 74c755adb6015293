"""The usage tables: a database made by the previous release (schema version 4) gains them on
open with its data intact, and the accrual is saved atomically with what the step returned."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, inspect

from rtguard.store import SqlStore
from rtguard.store.schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from rtguard.store.schema_usage import create_usage_tables
from rtguard.store.usage import Accrual, UsageCredit, UsageCursor

ACCOUNT = "111122223333"
USAGE_TABLES = {"usage_agents", "usage_resources", "usage_hours", "usage_trials"}


def test_version_4_database_is_migrated_to_the_usage_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    before = MIGRATIONS.index(create_usage_tables)
    assert before == 4  # organizations (4) came before usage (5)
    engine = create_engine(url)
    with engine.begin() as conn:  # what the previous release created
        schema_version.create(conn)
        for migration in MIGRATIONS[:before]:
            migration(conn)
        conn.execute(schema_version.insert().values(version=before))
        conn.exec_driver_sql(
            "INSERT INTO accounts VALUES ('111122223333', 'eu-west-1', '2026-01-01T00:00:00Z')"
        )
    assert not USAGE_TABLES & set(inspect(engine).get_table_names())
    engine.dispose()
    store = SqlStore(url)
    assert store.get_account_region(ACCOUNT) == "eu-west-1"
    cursor = UsageCursor(agent_id="a1", account_id=ACCOUNT, feature="EC2_RUNTIME_MONITORING", resource="i-1",
                         vcpus=2.0, monitored=True, server_time=7200.0, agent_time=None)  # fmt: skip
    credit = UsageCredit(
        account_id=ACCOUNT, feature="EC2_RUNTIME_MONITORING", resource="i-1", hour=3600.0, vcpu_seconds=8.0
    )
    seen: list[tuple[UsageCursor | None, float | None]] = []

    def step(prev: UsageCursor | None, mark: float | None) -> Accrual:
        seen.append((prev, mark))
        return Accrual(
            outcome="credited",
            cursor=cursor,
            credits=(credit, credit),
            trial=(ACCOUNT, "EC2_RUNTIME_MONITORING", 5.0),
        )

    store.accrue_usage("a1", step)
    store.accrue_usage("a1", step)
    assert seen == [(None, None), (cursor, None)]
    (row,) = store.usage_rows([ACCOUNT], 0.0)
    assert (row.hour, row.vcpu_seconds) == (3600.0, 32.0)
    assert store.usage_rows([ACCOUNT], 3600.0 * 3) == []  # the hour ended before the window
    assert store.trial_starts(ACCOUNT) == {"EC2_RUNTIME_MONITORING": 5.0}
    store.close()
    with sqlite3.connect(tmp_path / "old.db") as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= USAGE_TABLES
