"""SQLite specifics: WAL, foreign keys, and readers that never wait for the writer."""

from __future__ import annotations

from sqlalchemy import text

from thresher.store import Store

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
