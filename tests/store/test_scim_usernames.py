"""The SCIM userNames and pending writes of migration r0004, through the store's API."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from thresher.store import ScimRecords, ScimUserExtras, Store, StoredConnection
from thresher.store._migrate import config

from .factories import at, make_user


def _users(store: Store, conn: StoredConnection) -> None:
    with store.transaction() as tx:
        tx.apply_users(
            conn.id,
            [
                make_user(1, email="Ada@Example.com"),
                make_user(2, email="grace@example.com"),
                make_user(3, email="alan@example.com"),
            ],
            observed_at=at(0),
        )


def test_user_names_are_found_without_case_and_fall_back_to_the_email(
    store: Store, conn: StoredConnection
) -> None:
    _users(store, conn)
    records = ScimRecords(store, conn.id)
    records.save_user_extras(1, ScimUserExtras(user_name="JDoe", external_id="jc-1"))
    assert list(records.users_with_extras(user_name="jdoe")) == [1]
    assert list(records.users_with_extras(user_name="JDOE")) == [1]
    # Users without a recorded userName answer to their Harvest email; user 1 no longer does.
    assert list(records.users_with_extras(user_name="GRACE@example.com")) == [2]
    assert list(records.users_with_extras(user_name="ada@example.com")) == []
    (found,) = records.users_with_extras(user_name="jdoe").values()
    assert found[1].user_name == "JDoe"


def test_a_hidden_users_user_name_passes_to_the_next_user(store: Store, conn: StoredConnection) -> None:
    _users(store, conn)
    records = ScimRecords(store, conn.id)
    records.save_user_extras(1, ScimUserExtras(user_name="jdoe"))
    records.save_user_extras(1, ScimUserExtras(user_name="jdoe", hidden_at=at(1)))
    records.save_user_extras(2, ScimUserExtras(user_name="JDOE"))
    assert list(records.users_with_extras(user_name="jdoe")) == [2]
    assert records.user_extras([1])[1].user_name is None


def test_pending_writes_round_trip(store: Store, conn: StoredConnection) -> None:
    _users(store, conn)
    records = ScimRecords(store, conn.id)
    extras = ScimUserExtras(user_name="jdoe", external_id="jc-1", emails=[{"value": "j@example.com"}])
    creation = records.add_pending(None, "j@example.com", extras)
    update = records.add_pending(3, "alan@example.com", ScimUserExtras(user_name="alan"))
    (first, second) = records.pending()
    assert (first.id, first.harvest_id, first.email) == (creation, None, "j@example.com")
    assert first.extras == extras
    assert second.id == update
    assert [p.id for p in records.pending(user_name="JDOE")] == [creation]
    # Saving a user's record completes its pending updates in the same transaction...
    records.save_user_extras(3, ScimUserExtras(user_name="alan"))
    assert [p.id for p in records.pending()] == [creation]
    # ...and a creation completed without its request is kept, marked, for the request's retry.
    records.save_user_extras(2, extras, pending_id=creation, keep_pending=True)
    (kept,) = records.pending()
    assert (kept.harvest_id, kept.completed_at is not None) == (2, True)
    records.forget_pending(creation)
    assert records.pending() == []


def test_r0004_gives_existing_records_their_email_as_user_name(store: Store, conn: StoredConnection) -> None:
    # The mirror is written by today's code (its writes reach tables added after r0004), then the
    # schema goes back to r0003 with those rows in place, as an upgrading user's store would be.
    _users(store, conn)
    with store.transaction() as tx:
        tx.mark_user_deleted(conn.id, 3, observed_at=at(1), source="sync")
        tx.apply_users(conn.id, [make_user(4, email="ALAN@example.com")], observed_at=at(2))
    with store.engine.begin() as db:
        command.downgrade(config(db), "0003")
    with store.engine.begin() as db:
        for harvest_id in (1, 3, 4):
            db.execute(
                text(
                    "INSERT INTO scim_users (connection_id, harvest_id, external_id) "
                    "VALUES (:c, :h, :e)"
                ),
                {"c": conn.id, "h": harvest_id, "e": f"ext-{harvest_id}"},
            )
    store.upgrade()
    records = ScimRecords(store, conn.id)
    extras = records.user_extras()
    assert extras[1].user_name == "Ada@Example.com"
    # A deleted user's address reused by a live one: the live user keeps the userName.
    assert extras[4].user_name == "ALAN@example.com"
    assert extras[3].user_name is None
    assert list(records.users_with_extras(user_name="ada@example.com")) == [1]
    assert list(records.users_with_extras(user_name="alan@example.com")) == [4]
    # And back down.
    with store.engine.begin() as db:
        command.downgrade(config(db), "0003")
    store.upgrade()
