"""Users: upsert, field-level diff, one event per real change, tombstones."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from thresher.harvest._models import User
from thresher.store import (
    USER_FIELDS,
    USERS_RESOURCE,
    ChangeEvent,
    InvalidArgumentError,
    Store,
    StoredConnection,
    SyncState,
    UnknownConnectionError,
    user_snapshot,
)

from .factories import at, changed, make_user


def apply(
    store: Store,
    conn: StoredConnection,
    users: list[User],
    *,
    seconds: float = 0,
    source: str = "sync",
    run_id: str | None = None,
) -> list[ChangeEvent]:
    with store.transaction() as tx:
        return tx.apply_users(
            conn.id, users, observed_at=at(seconds), source=source, run_id=run_id  # type: ignore[arg-type]
        )


def kinds(events: list[ChangeEvent]) -> list[str]:
    return [e.kind for e in events]


def test_a_new_user_is_created_with_every_field_after(store: Store, conn: StoredConnection) -> None:
    user = make_user(1, roles=["Design"], default_hourly_rate="120.50")
    [event] = apply(store, conn, [user])
    assert event.kind == "created"
    assert (event.resource, event.harvest_id, event.source) == ("user", 1, "sync")
    assert event.observed_at == at(0)
    assert list(event.changes) == list(USER_FIELDS)
    assert all(change["before"] is None for change in event.changes.values())
    after = {field: change["after"] for field, change in event.changes.items()}
    assert after == user_snapshot(user)
    # JSON-safe: decimals as canonical strings, datetimes as ISO 8601 UTC.
    assert after["default_hourly_rate"] == "120.5"
    assert after["cost_rate"] == "50.25"
    assert after["created_at"] == "2020-01-01T09:00:00+00:00"
    # What the store returns is what it stored.
    assert store.list_events(conn.id) == [event]


def test_stored_user_has_every_harvest_field_and_bookkeeping(store: Store, conn: StoredConnection) -> None:
    user = make_user(7, email="Ada@Example.COM", is_contractor=True, telephone="555-0100")
    apply(store, conn, [user], seconds=5, run_id="run-1")
    stored = store.get_user(conn.id, 7)
    assert stored is not None
    for field in (*USER_FIELDS, "updated_at"):
        assert getattr(stored, field) == getattr(user, field), field
    assert stored.first_seen_at == stored.last_seen_at == at(5)
    assert stored.deleted_at is None
    assert stored.last_seen_run == "run-1"
    assert stored.status == "active"
    assert stored.fields() == user_snapshot(user)
    assert stored.as_dict()["id"] == 7
    assert stored.as_dict()["default_hourly_rate"] == "100"


def test_identical_reapply_records_nothing_and_marks_seen(store: Store, conn: StoredConnection) -> None:
    users = [make_user(i) for i in range(1, 6)]
    assert len(apply(store, conn, users)) == 5
    # An overlapping incremental window re-reads the same rows: no duplicate events.
    assert apply(store, conn, users, seconds=60, run_id="run-2") == []
    assert apply(store, conn, users[2:], seconds=120) == []
    assert len(store.list_events(conn.id)) == 5
    stored = store.get_user(conn.id, 4)
    assert stored is not None
    assert stored.first_seen_at == at(0)
    assert stored.last_seen_at == at(120)
    # An incremental page (no run id) keeps the run that last listed the user.
    assert stored.last_seen_run == "run-2"


def test_one_changed_field_is_one_updated_event_with_only_that_field(
    store: Store, conn: StoredConnection
) -> None:
    user = make_user(1)
    apply(store, conn, [user])
    [event] = apply(store, conn, [changed(user, last_name="Lovelace-King")], seconds=10)
    assert event.kind == "updated"
    assert event.changes == {"last_name": {"before": "Last1", "after": "Lovelace-King"}}
    assert event.observed_at == at(10)


def test_archive_and_restore_are_their_own_events(store: Store, conn: StoredConnection) -> None:
    user = make_user(1)
    apply(store, conn, [user])
    archived = changed(user, is_active=False)
    assert [(e.kind, e.changes) for e in apply(store, conn, [archived])] == [
        ("archived", {"is_active": {"before": True, "after": False}})
    ]
    assert [(e.kind, e.changes) for e in apply(store, conn, [changed(archived, is_active=True)])] == [
        ("restored", {"is_active": {"before": False, "after": True}})
    ]


def test_roles_list_change_is_roles_changed(store: Store, conn: StoredConnection) -> None:
    user = make_user(1, roles=["Design"])
    apply(store, conn, [user])
    [event] = apply(store, conn, [changed(user, roles=["Design", "Sales"])])
    assert event.kind == "roles_changed"
    assert event.changes == {"roles": {"before": ["Design"], "after": ["Design", "Sales"]}}


def test_one_change_can_emit_several_events_each_with_its_fields(
    store: Store, conn: StoredConnection
) -> None:
    user = make_user(1, is_active=False, roles=[])
    apply(store, conn, [user])
    events = apply(
        store,
        conn,
        [changed(user, is_active=True, first_name="Ada", weekly_capacity=72000, roles=["Ops"])],
    )
    assert kinds(events) == ["restored", "updated", "roles_changed"]
    assert events[0].changes == {"is_active": {"before": False, "after": True}}
    assert events[1].changes == {
        "first_name": {"before": "First1", "after": "Ada"},
        "weekly_capacity": {"before": 126000, "after": 72000},
    }
    assert events[2].changes == {"roles": {"before": [], "after": ["Ops"]}}
    # Archiving together with an edit: the archive comes last.
    events = apply(store, conn, [changed(user, is_active=False, access_roles=["manager"])])
    assert kinds(events) == ["updated", "roles_changed", "archived"]


def test_updated_at_alone_is_stored_without_an_event(store: Store, conn: StoredConnection) -> None:
    user = make_user(1)
    apply(store, conn, [user])
    bumped = changed(user)
    assert bumped.updated_at != user.updated_at
    assert apply(store, conn, [bumped]) == []
    stored = store.get_user(conn.id, 1)
    assert stored is not None
    assert stored.updated_at == bumped.updated_at


def test_equal_decimals_in_another_scale_are_no_change(store: Store, conn: StoredConnection) -> None:
    apply(store, conn, [make_user(1, default_hourly_rate="100.0", cost_rate="0")])
    assert apply(store, conn, [make_user(1, default_hourly_rate="100.00", cost_rate="0.000")]) == []
    [event] = apply(store, conn, [make_user(1, default_hourly_rate="100.01", cost_rate=None)])
    assert event.changes == {
        "default_hourly_rate": {"before": "100", "after": "100.01"},
        "cost_rate": {"before": "0", "after": None},
    }


def test_write_then_identical_sync_announces_the_change_once(
    store: Store, conn: StoredConnection
) -> None:
    user = make_user(1)
    apply(store, conn, [user])
    renamed = changed(user, first_name="Grace")
    # Write-through of Harvest's PATCH response, then the next sync reads the same user.
    [event] = apply(store, conn, [renamed], seconds=5, source="write")
    assert (event.kind, event.source) == ("updated", "write")
    assert apply(store, conn, [renamed], seconds=65) == []
    assert kinds(store.list_events(conn.id, since=1)) == ["updated"]


def test_a_user_repeated_in_one_batch_is_diffed_against_its_previous_occurrence(
    store: Store, conn: StoredConnection
) -> None:
    user = make_user(1)
    events = apply(store, conn, [user, changed(user, first_name="B"), changed(user, first_name="B")])
    assert kinds(events) == ["created", "updated"]
    assert events[1].changes == {"first_name": {"before": "First1", "after": "B"}}
    stored = store.get_user(conn.id, 1)
    assert stored is not None
    assert stored.first_name == "B"


def test_reconciliation_tombstones_users_the_full_run_did_not_list(
    store: Store, conn: StoredConnection
) -> None:
    users = [make_user(i) for i in range(1, 5)]
    apply(store, conn, users, run_id="full-1")
    # The next full run lists only users 1 and 3.
    apply(store, conn, [users[0], users[2]], seconds=100, run_id="full-2")
    with store.transaction() as tx:
        events = tx.tombstone_missing_users(conn.id, "full-2", observed_at=at(101))
    assert [(e.kind, e.harvest_id, e.source) for e in events] == [
        ("deleted", 2, "sync"),
        ("deleted", 4, "sync"),
    ]
    assert events[0].changes == {
        field: {"before": value, "after": None} for field, value in user_snapshot(users[1]).items()
    }
    assert sorted(store.snapshot_users(conn.id)) == [1, 3]
    assert store.get_user(conn.id, 2) is None
    tombstone = store.get_user(conn.id, 2, include_deleted=True)
    assert tombstone is not None
    assert tombstone.deleted_at == at(101)
    assert tombstone.status == "deleted"
    # Tombstones are not deleted again.
    with store.transaction() as tx:
        assert tx.tombstone_missing_users(conn.id, "full-3", observed_at=at(200)) != []
        assert tx.tombstone_missing_users(conn.id, "full-3", observed_at=at(200)) == []


def test_write_through_during_a_full_run_counts_as_seen_by_it(
    store: Store, conn: StoredConnection
) -> None:
    apply(store, conn, [make_user(1), make_user(2)], run_id="full-1")
    with store.transaction() as tx:
        state = tx.get_sync_state(conn.id, USERS_RESOURCE)
        tx.save_sync_state(dataclasses.replace(state, run_id="full-2", run_kind="full"))
        tx.apply_users(conn.id, [make_user(1)], observed_at=at(10), run_id="full-2")
    # Created in Harvest after the listing passed its page; the write-through records it.
    assert kinds(apply(store, conn, [make_user(3)], seconds=20, source="write")) == ["created"]
    with store.transaction() as tx:
        events = tx.tombstone_missing_users(conn.id, "full-2", observed_at=at(30))
    assert [e.harvest_id for e in events] == [2]
    assert sorted(store.snapshot_users(conn.id)) == [1, 3]


def test_a_tombstoned_user_that_reappears_is_created_again(store: Store, conn: StoredConnection) -> None:
    user = make_user(1)
    apply(store, conn, [user], run_id="full-1")
    with store.transaction() as tx:
        tx.tombstone_missing_users(conn.id, "full-2", observed_at=at(10))
    back = changed(user, last_name="Back")
    [event] = apply(store, conn, [back], seconds=20)
    assert event.kind == "created"
    assert {f: c["after"] for f, c in event.changes.items()} == user_snapshot(back)
    stored = store.get_user(conn.id, 1)
    assert stored is not None
    assert stored.deleted_at is None
    assert stored.first_seen_at == at(0)
    assert stored.last_name == "Back"
    assert apply(store, conn, [back], seconds=30) == []


def test_mark_user_deleted_is_a_write_through_tombstone(store: Store, conn: StoredConnection) -> None:
    user = make_user(1)
    apply(store, conn, [user])
    with store.transaction() as tx:
        [event] = tx.mark_user_deleted(conn.id, 1, observed_at=at(5))
        assert tx.mark_user_deleted(conn.id, 1, observed_at=at(6)) == []
        assert tx.mark_user_deleted(conn.id, 999, observed_at=at(6)) == []
    assert (event.kind, event.source) == ("deleted", "write")
    assert event.changes["email"] == {"before": "user1@example.com", "after": None}
    assert store.get_user(conn.id, 1) is None
    # The next reconciliation does not delete it again.
    with store.transaction() as tx:
        assert tx.tombstone_missing_users(conn.id, "full-9", observed_at=at(10)) == []


def test_find_by_email_is_exact_and_case_insensitive(store: Store, conn: StoredConnection) -> None:
    apply(store, conn, [make_user(1, email="Ada.Lovelace@Example.com"), make_user(2)])
    found = store.find_user_by_email(conn.id, "ada.lovelace@EXAMPLE.COM")
    assert found is not None
    assert found.harvest_id == 1
    assert store.find_user_by_email(conn.id, "ada.lovelace@example") is None
    assert store.find_user_by_email(conn.id, "lovelace@example.com") is None


def test_find_by_email_prefers_the_live_user_over_a_tombstone(
    store: Store, conn: StoredConnection
) -> None:
    apply(store, conn, [make_user(1, email="reused@example.com")])
    with store.transaction() as tx:
        tx.mark_user_deleted(conn.id, 1, observed_at=at(1))
    assert store.find_user_by_email(conn.id, "reused@example.com") is None
    tombstone = store.find_user_by_email(conn.id, "reused@example.com", include_deleted=True)
    assert tombstone is not None
    assert tombstone.harvest_id == 1
    apply(store, conn, [make_user(2, email="Reused@example.com")], seconds=2)
    for include_deleted in (False, True):
        found = store.find_user_by_email(conn.id, "REUSED@example.com", include_deleted=include_deleted)
        assert found is not None
        assert found.harvest_id == 2


def test_bad_arguments_are_refused(store: Store, conn: StoredConnection) -> None:
    naive = dt.datetime(2024, 1, 1)
    with store.transaction() as tx:
        with pytest.raises(InvalidArgumentError, match="timezone-aware"):
            tx.apply_users(conn.id, [make_user(1)], observed_at=naive)
        with pytest.raises(InvalidArgumentError, match="source"):
            tx.apply_users(conn.id, [make_user(1)], observed_at=at(0), source="magic")  # type: ignore[arg-type]
        with pytest.raises(UnknownConnectionError) as info:
            tx.apply_users(conn.id + 100, [make_user(1)], observed_at=at(0))
        assert info.value.hint is not None
        assert "thresher connections list" in info.value.hint
        assert tx.apply_users(conn.id, [], observed_at=at(0)) == []
    assert store.list_events() == []


def test_sync_state_round_trips_typed(store: Store, conn: StoredConnection) -> None:
    with store.transaction() as tx:
        state = tx.get_sync_state(conn.id, USERS_RESOURCE)
        assert state == SyncState(connection_id=conn.id, resource=USERS_RESOURCE)
        assert not state.in_progress
        plus_two = dt.timezone(dt.timedelta(hours=2))
        saved = dataclasses.replace(
            state,
            high_water_mark=dt.datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=plus_two),
            resume_url="https://api.harvestapp.com/v2/users?cursor=abc&per_page=2000",
            run_id="run-1",
            run_kind="full",
            run_started_at=at(0),
            last_full_sync_at=at(-3600),
            last_reconciled_at=at(-3600),
        )
        tx.save_sync_state(saved)
        assert tx.get_sync_state(conn.id, USERS_RESOURCE) == saved
    loaded = store.get_sync_state(conn.id, USERS_RESOURCE)
    assert loaded == saved
    assert loaded.high_water_mark is not None
    assert loaded.high_water_mark.utcoffset() == dt.timedelta(0)
    assert loaded.high_water_mark.hour == 10
    assert loaded.in_progress
    assert store.get_sync_state(conn.id, "roles") == SyncState(connection_id=conn.id, resource="roles")
    with store.transaction() as tx:
        tx.save_sync_state(dataclasses.replace(loaded, run_id=None, resume_url=None, run_kind=None))
    assert store.get_sync_state(conn.id, USERS_RESOURCE).run_id is None
    with store.transaction() as tx, pytest.raises(InvalidArgumentError):
        tx.save_sync_state(dataclasses.replace(loaded, run_kind="partial"))  # type: ignore[arg-type]
