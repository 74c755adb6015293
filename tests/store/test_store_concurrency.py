"""Guarantees that need more than one connection, on both backends: a reader tailing the event
log by id never skips an id committed late while writers append, and stores opened at the same
moment on a new database migrate it once between them."""

from __future__ import annotations

import json
import threading

from sqlalchemy import create_engine, text

from rtguard.store import SqlStore
from rtguard.store.schema import SCHEMA_VERSION

ACCOUNT = "111122223333"


def test_a_tailing_reader_never_skips_an_id(store: SqlStore) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []

    def writer(name: str) -> None:
        try:
            for seq in range(40):
                store.record_batch(ACCOUNT, name, seq, [json.dumps({"w": name, "i": i}) for i in range(3)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    def reader() -> None:
        cursor = 0
        try:
            while True:
                done = stop.is_set()  # read once more after the writers finished
                for row in store.events_after(cursor, 50):
                    seen.append(row.id)
                    cursor = row.id
                if done:
                    return
        except BaseException as exc:  # reported below
            errors.append(exc)

    tail = threading.Thread(target=reader)
    tail.start()
    writers = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(3)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(60)
    stop.set()
    tail.join(60)
    assert not errors
    every = [row.id for row in store.events_after(0, 10_000)]
    assert len(every) == 360
    assert seen == every  # each id seen once, in order: none committed behind the reader's cursor


def test_stores_opened_together_migrate_once(db_url: str) -> None:
    errors: list[BaseException] = []
    stores: list[SqlStore] = []
    start = threading.Barrier(4)

    def open_store() -> None:
        try:
            start.wait(10)
            stores.append(SqlStore(db_url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.close()
    assert not errors and len(stores) == 4
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM schema_version")).all() == [(SCHEMA_VERSION,)]
    finally:
        engine.dispose()
