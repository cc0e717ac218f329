"""Leases with fencing tokens: one holder per (connection, purpose), taken over once expired.

Expiry is driven by renewing with a negative time to live (the lease then expired in the past),
never by sleeping, so these tests do not depend on timing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from thresher.store import (
    LeaseHeldError,
    LeaseHolder,
    LeaseLostError,
    Store,
    StoredConnection,
    SyncState,
)


def test_a_held_lease_is_refused_with_who_holds_it(store: Store, conn: StoredConnection) -> None:
    first, second = LeaseHolder(), LeaseHolder(pid=4242, host="other-host")
    lease = store.acquire_lease(conn.id, "sync", first, ttl=60)
    assert lease.token == 1
    assert lease.holder == first.id
    with pytest.raises(LeaseHeldError) as held:
        store.acquire_lease(conn.id, "sync", second, ttl=60)
    assert held.value.lease.pid == first.pid
    assert held.value.lease.host == first.host
    assert str(first.pid) in str(held.value)
    # Another purpose, or another connection, is another lease.
    assert store.acquire_lease(conn.id, "refresh", second, ttl=60).token == 1


def test_an_expired_lease_is_taken_over_and_fences_its_old_holder(
    store: Store, conn: StoredConnection
) -> None:
    old, new = LeaseHolder(), LeaseHolder()
    stale = store.acquire_lease(conn.id, "sync", old, ttl=60)
    store.renew_lease(stale, ttl=-1)  # the holder stopped heart-beating: the lease ran out
    taken = store.acquire_lease(conn.id, "sync", new, ttl=60)
    assert taken.token == stale.token + 1
    # The old holder wakes up: it can neither renew nor commit.
    with pytest.raises(LeaseLostError):
        store.renew_lease(stale, ttl=60)
    with pytest.raises(LeaseLostError), store.transaction() as tx:
        tx.check_lease(stale)
    with store.transaction() as tx:
        tx.check_lease(taken)  # the new holder's commits go through


def test_a_write_fenced_out_is_rolled_back(store: Store, conn: StoredConnection) -> None:
    stale = store.acquire_lease(conn.id, "sync", LeaseHolder(), ttl=60)
    store.renew_lease(stale, ttl=-1)
    store.acquire_lease(conn.id, "sync", LeaseHolder(), ttl=60)
    def write_then_check() -> None:
        with store.transaction() as tx:
            tx.save_sync_state(
                SyncState(connection_id=conn.id, resource="users", resume_url="https://x/next")
            )
            tx.check_lease(stale)

    with pytest.raises(LeaseLostError):
        write_then_check()
    assert store.get_sync_state(conn.id, "users").resume_url is None


def test_release_lets_the_next_holder_in_at_once_with_a_larger_token(
    store: Store, conn: StoredConnection
) -> None:
    holder = LeaseHolder()
    lease = store.acquire_lease(conn.id, "sync", holder, ttl=600)
    # The same holder taking it again keeps its token (a renewal, not a new holder).
    assert store.acquire_lease(conn.id, "sync", holder, ttl=600).token == lease.token
    store.release_lease(lease)
    after = store.acquire_lease(conn.id, "sync", LeaseHolder(), ttl=600)
    assert after.token == lease.token + 1
    current = store.get_lease(conn.id, "sync")
    assert current is not None
    assert current.holder == after.holder
    assert current.expires_at > dt.datetime.now(dt.UTC)


def test_a_lease_never_taken_is_none(store: Store, conn: StoredConnection) -> None:
    assert store.get_lease(conn.id, "sync") is None


def test_credentials_version_grows_with_each_save(store: Store, conn: StoredConnection) -> None:
    assert conn.credentials_version == 0
    store.update_connection(conn.name, credentials_ref="fernet:v1:one")
    store.update_connection(conn.name, label="renamed")  # not a credentials change
    assert store.get_connection(conn.name).credentials_version == 1
    store.update_connection(conn.name, credentials_ref="fernet:v1:two")
    assert store.get_connection(conn.name).credentials_version == 2
