"""Writers in different processes (here: separate engines on threads) never duplicate an event.

A write-through and a sync may apply the same change at the same moment; the store serialises
writers of a connection (SQLite: BEGIN IMMEDIATE; PostgreSQL: a row lock), so the second one
diffs against the first one's committed row and records nothing.
"""

from __future__ import annotations

import threading

from thresher.store import ChangeEvent, Store, StoredConnection

from .factories import at, changed, make_user


def test_the_same_change_applied_concurrently_is_recorded_once(
    store: Store, conn: StoredConnection, database_url: str
) -> None:
    user = make_user(1)
    with store.transaction() as tx:
        tx.apply_users(conn.id, [user], observed_at=at(0))
    renamed = changed(user, first_name="Concurrent")
    workers = 4
    barrier = threading.Barrier(workers)
    results: list[list[ChangeEvent]] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with Store.open(database_url, migrate=False) as other:
                barrier.wait(timeout=10)
                with other.transaction() as tx:
                    results.append(tx.apply_users(conn.id, [renamed], observed_at=at(1), source="write"))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(len(r) for r in results) == [0] * (workers - 1) + [1]
    assert [e.kind for e in store.list_events(conn.id)] == ["created", "updated"]
