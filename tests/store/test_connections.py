"""Many connections in one store, each isolated."""

from __future__ import annotations

import pytest

from thresher.store import (
    DEFAULT_BASE_URL,
    USERS_RESOURCE,
    DuplicateConnectionError,
    Store,
    StoredConnection,
    UnknownConnectionError,
)

from .factories import at, changed, make_user


def test_add_get_list_remove(store: Store) -> None:
    acme = store.add_connection("acme", 1001, label="Acme", credentials_ref="vault:acme")
    assert isinstance(acme, StoredConnection)
    assert (acme.name, acme.account_id, acme.label, acme.base_url) == ("acme", 1001, "Acme", DEFAULT_BASE_URL)
    assert acme.created_at.utcoffset() is not None
    assert store.get_connection("acme") == acme
    assert store.get_connection_by_id(acme.id) == acme
    assert store.get_connection_or_none("nope") is None
    beta = store.add_connection("beta", 2002, base_url="http://127.0.0.1:9/v2", id_url="http://127.0.0.1:9")
    assert [c.name for c in store.list_connections()] == ["acme", "beta"]
    assert "credentials_ref" not in acme.as_dict()
    assert acme.as_dict()["has_credentials"] is True
    store.remove_connection("acme")
    assert store.list_connections() == [beta]
    with pytest.raises(UnknownConnectionError) as info:
        store.remove_connection("acme")
    assert info.value.hint is not None
    assert "thresher connections list" in info.value.hint


def test_names_are_unique(store: Store) -> None:
    store.add_connection("acme", 1)
    with pytest.raises(DuplicateConnectionError):
        store.add_connection("acme", 2)


def test_the_default_connection(store: Store) -> None:
    with pytest.raises(UnknownConnectionError, match="no connection"):
        store.get_connection()
    only = store.add_connection("only", 1)
    assert store.get_connection() == only
    store.add_connection("second", 2)
    with pytest.raises(UnknownConnectionError, match="none is the default"):
        store.get_connection()
    third = store.add_connection("third", 3, is_default=True)
    assert store.get_connection() == third
    assert store.set_default_connection("second").is_default
    assert store.get_connection().name == "second"
    assert [c.name for c in store.list_connections() if c.is_default] == ["second"]
    with pytest.raises(UnknownConnectionError):
        store.set_default_connection("nope")


def test_update_connection_changes_only_what_is_given(store: Store) -> None:
    store.add_connection("acme", 1, label="Acme")
    updated = store.update_connection("acme", credentials_ref="enc:v1:abc")
    assert (updated.label, updated.credentials_ref) == ("Acme", "enc:v1:abc")
    updated = store.update_connection("acme", label=None, account_id=7)
    assert (updated.label, updated.account_id, updated.credentials_ref) == (None, 7, "enc:v1:abc")
    with pytest.raises(UnknownConnectionError):
        store.update_connection("nope", label="x")


def test_connections_are_isolated(store: Store) -> None:
    a = store.add_connection("a", 1)
    b = store.add_connection("b", 2)
    # The same Harvest ids in two accounts are different people.
    with store.transaction() as tx:
        tx.apply_users(a.id, [make_user(1), make_user(2)], observed_at=at(0), run_id="ra")
        tx.apply_users(b.id, [make_user(1, first_name="Bea")], observed_at=at(0), run_id="rb")
    with store.transaction() as tx:
        assert tx.apply_users(b.id, [changed(make_user(1), first_name="Bea")], observed_at=at(1)) == []
        [event] = tx.apply_users(a.id, [make_user(1, first_name="Al")], observed_at=at(1))
        assert event.connection_id == a.id
        # Reconciling b must not touch a.
        assert [e.harvest_id for e in tx.tombstone_missing_users(b.id, "rb2", observed_at=at(2))] == [1]
    assert sorted(store.snapshot_users(a.id)) == [1, 2]
    assert store.snapshot_users(b.id) == {}
    assert store.count_users(b.id, include_deleted=True) == 1
    assert {e.connection_id for e in store.list_events(b.id)} == {b.id}
    assert len(store.list_events(a.id)) == 3
    assert len(store.list_events()) == 5
    user = store.get_user(a.id, 1)
    assert user is not None
    assert user.first_name == "Al"
    with store.transaction() as tx:
        state = tx.get_sync_state(a.id, USERS_RESOURCE)
        tx.save_sync_state(type(state)(connection_id=a.id, resource=USERS_RESOURCE, resume_url="x"))
    assert store.get_sync_state(b.id, USERS_RESOURCE).resume_url is None


def test_removing_a_connection_removes_its_mirror_and_log(store: Store) -> None:
    a = store.add_connection("a", 1)
    b = store.add_connection("b", 2)
    with store.transaction() as tx:
        for c in (a, b):
            tx.apply_users(c.id, [make_user(1)], observed_at=at(0))
            tx.set_teammates(c.id, 1, [2], observed_at=at(0), source="sync")
    store.remove_connection("a")
    assert store.count_users(a.id, include_deleted=True) == 0
    assert store.get_teammates(a.id, 1) == []
    assert {e.connection_id for e in store.list_events()} == {b.id}
    assert store.count_users(b.id) == 1
    # A new connection never sees a removed one's ids or events.
    c = store.add_connection("a", 1)
    assert store.list_events(c.id) == []
