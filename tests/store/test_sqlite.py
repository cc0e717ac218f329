"""SQLite specifics: WAL, foreign keys, readers that never wait for the writer, and the bulk path."""

from __future__ import annotations

import gc

from sqlalchemy import text

from thresher.store import Store
from thresher.store._bulk import bulk_for

from .factories import at, make_user


def test_wal_and_foreign_keys_are_on(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_readers_see_the_last_commit_while_a_write_is_open(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, Store.open(sqlite_url) as reader:
        conn = store.add_connection("acme", 1)
        with store.transaction() as tx:
            tx.apply_users(conn.id, [make_user(1)], observed_at=at(0))
            # `thresher users list` while `thresher sync` holds the write lock: no waiting.
            assert reader.count_users(conn.id) == 0
        assert reader.count_users(conn.id) == 1


def test_bulk_rows_stay_out_of_the_cycle_collector() -> None:
    # The bulk upsert leaves the collector running; it stays fast because the per-user rows and
    # states it keeps until the page is written are containers the collector need not walk.
    bulk = bulk_for("sqlite")
    row = bulk.user_row(make_user(1, roles=["Design"]), 1, at(0), "run-1")
    state = bulk.state(row)
    gc.collect(0)  # untracks tuples of plain values
    assert not gc.is_tracked(row)
    assert not gc.is_tracked(state)
    assert state[0] is None
