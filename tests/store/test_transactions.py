"""One transaction: a page of rows, its events and the resume point commit together or not at all."""

from __future__ import annotations

import dataclasses

import pytest

from thresher.store import USERS_RESOURCE, InvalidArgumentError, Store, StoredConnection

from .factories import at, make_role, make_user


class Crash(Exception):
    pass


def test_an_exception_leaves_neither_rows_nor_events_nor_sync_state(
    store: Store, conn: StoredConnection
) -> None:
    def write_everything_then_crash() -> None:
        with store.transaction() as tx:
            tx.apply_users(conn.id, [make_user(1), make_user(2)], observed_at=at(0))
            tx.apply_roles(conn.id, [make_role(10, "Design", [1])], observed_at=at(0), source="sync")
            tx.set_teammates(conn.id, 1, [2], observed_at=at(0), source="sync")
            state = tx.get_sync_state(conn.id, USERS_RESOURCE)
            tx.save_sync_state(dataclasses.replace(state, resume_url="https://example/next", run_id="r"))
            # Inside the transaction its own writes are visible...
            assert tx.count_users(conn.id) == 2
            assert len(tx.list_events(conn.id)) == 4
            raise Crash

    with pytest.raises(Crash):
        write_everything_then_crash()
    # ...and after the failure, none of them.
    assert store.count_users(conn.id, include_deleted=True) == 0
    assert store.list_events() == []
    assert store.list_roles(conn.id, include_deleted=True) == []
    assert store.get_teammates(conn.id, 1) == []
    assert store.get_sync_state(conn.id, USERS_RESOURCE).resume_url is None


def test_a_page_and_its_resume_point_commit_together(store: Store, conn: StoredConnection) -> None:
    with store.transaction() as tx:
        tx.apply_users(conn.id, [make_user(1)], observed_at=at(0))
        state = tx.get_sync_state(conn.id, USERS_RESOURCE)
        tx.save_sync_state(dataclasses.replace(state, resume_url="https://example/page2", run_id="r"))
        # Other readers do not see the page before it commits.
        assert store.count_users(conn.id) == 0
        assert store.get_sync_state(conn.id, USERS_RESOURCE).resume_url is None
    assert store.count_users(conn.id) == 1
    assert store.get_sync_state(conn.id, USERS_RESOURCE).resume_url == "https://example/page2"


def test_a_finished_transaction_cannot_be_used(store: Store, conn: StoredConnection) -> None:
    with store.transaction() as tx:
        pass
    with pytest.raises(InvalidArgumentError, match="ended"):
        tx.apply_users(conn.id, [make_user(1)], observed_at=at(0))


def test_sequential_transactions_number_events_in_order(store: Store, conn: StoredConnection) -> None:
    ids = []
    for i in range(1, 4):
        with store.transaction() as tx:
            ids += [e.id for e in tx.apply_users(conn.id, [make_user(i)], observed_at=at(i))]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert [e.id for e in store.list_events()] == ids
    assert store.last_event_id() == ids[-1]
