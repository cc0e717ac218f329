"""User filters and the change log's queries (what `thresher users` and `thresher changes` ask)."""

from __future__ import annotations

import datetime as dt

import pytest

from thresher.store import InvalidArgumentError, Store, StoredConnection, StoredUser

from .factories import at, changed, make_user


@pytest.fixture
def roster(store: Store, conn: StoredConnection) -> StoredConnection:
    users = [
        make_user(1, first_name="Ada", last_name="Lovelace", email="Ada@Example.com",
                  access_roles=["administrator"], roles=["Engineering"]),
        make_user(2, first_name="Grace", last_name="Hopper", email="grace@example.com",
                  access_roles=["manager", "people_manager"], roles=["Engineering", "Navy"]),
        make_user(3, first_name="Alan", last_name="Turing", email="alan@example.com",
                  access_roles=["member"], roles=[], is_active=False),
        make_user(4, first_name="Katherine", last_name="Johnson", email="kj@example.com",
                  access_roles=["member"], roles=["NASA_100%"]),
        make_user(5, first_name="Gone", last_name="Away", email="gone@example.com",
                  access_roles=["member"], roles=["Engineering"]),
    ]
    with store.transaction() as tx:
        tx.apply_users(conn.id, users, observed_at=at(0))
        tx.mark_user_deleted(conn.id, 5, observed_at=at(1))
    return conn


def ids(users: list[StoredUser]) -> list[int]:
    return [u.harvest_id for u in users]


def test_filters(store: Store, roster: StoredConnection) -> None:
    cid = roster.id
    assert ids(store.list_users(cid)) == [1, 2, 3, 4]
    assert ids(store.list_users(cid, include_deleted=True)) == [1, 2, 3, 4, 5]
    assert ids(store.list_users(cid, email="ADA@example.COM")) == [1]
    assert ids(store.list_users(cid, email="example.com")) == []
    assert ids(store.list_users(cid, name_contains="ACE")) == [1, 2]
    assert ids(store.list_users(cid, name_contains="ada love")) == [1]
    assert ids(store.list_users(cid, name_contains="%")) == []
    assert ids(store.list_users(cid, access_role="member")) == [3, 4]
    assert ids(store.list_users(cid, access_role="people_manager")) == [2]
    assert ids(store.list_users(cid, access_role="manag")) == []
    assert ids(store.list_users(cid, role="Engineering")) == [1, 2]
    assert ids(store.list_users(cid, role="Engineering", include_deleted=True)) == [1, 2, 5]
    assert ids(store.list_users(cid, role="NASA_100%")) == [4]
    assert ids(store.list_users(cid, role="NASA")) == []
    assert ids(store.list_users(cid, active=True)) == [1, 2, 4]
    assert ids(store.list_users(cid, active=False)) == [3]
    assert ids(store.list_users(cid, role="Engineering", access_role="manager", active=True)) == [2]
    assert ids(store.list_users(cid, limit=2)) == [1, 2]
    assert ids(store.list_users(cid, limit=2, offset=2)) == [3, 4]
    assert store.count_users(cid) == 4
    assert store.count_users(cid, role="Engineering", include_deleted=True) == 3
    assert store.count_users(cid, active=False) == 1


def test_snapshot_is_live_users_as_json_safe_fields(store: Store, roster: StoredConnection) -> None:
    snapshot = store.snapshot_users(roster.id)
    assert sorted(snapshot) == [1, 2, 3, 4]
    assert snapshot[2]["roles"] == ["Engineering", "Navy"]
    assert snapshot[2]["cost_rate"] == "50.25"
    assert "updated_at" not in snapshot[2]


def test_events_since_an_id_or_a_time_and_by_kind(store: Store, roster: StoredConnection) -> None:
    cid = roster.id
    everything = store.list_events(cid)
    assert [e.kind for e in everything] == ["created"] * 5 + ["deleted"]
    with store.transaction() as tx:
        ada = make_user(1, first_name="Ada", last_name="Lovelace", email="Ada@Example.com",
                        access_roles=["administrator"], roles=["Engineering"])
        tx.apply_users(cid, [changed(ada, is_active=False)], observed_at=at(100))
    cursor = everything[-1].id
    assert [e.kind for e in store.list_events(cid, since=cursor)] == ["archived"]
    assert store.list_events(cid, since=store.last_event_id(cid)) == []
    assert [e.kind for e in store.list_events(cid, since=at(1))] == ["deleted", "archived"]
    # A datetime in another zone is the same instant.
    in_tokyo = at(1).astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert [e.kind for e in store.list_events(cid, since=in_tokyo)] == ["deleted", "archived"]
    assert [e.harvest_id for e in store.list_events(cid, kind="deleted")] == [5]
    assert len(store.list_events(cid, kind="created", limit=2)) == 2
    assert [e.kind for e in store.list_events(cid, harvest_id=1, resource="user")] == ["created", "archived"]
    assert [e.kind for e in store.list_events(cid, source="write")] == ["deleted"]
    assert store.list_events(None, kind="archived")[0].connection_id == cid
    with pytest.raises(InvalidArgumentError) as info:
        store.list_events(cid, kind="renamed")
    assert info.value.hint is not None
    assert "roles_changed" in info.value.hint
    with pytest.raises(InvalidArgumentError):
        store.list_events(cid, since=dt.datetime(2024, 1, 1))


def test_event_as_dict_is_json_safe(store: Store, roster: StoredConnection) -> None:
    import json

    event = store.list_events(roster.id)[0]
    data = event.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["observed_at"] == "2024-01-02T03:04:05+00:00"
