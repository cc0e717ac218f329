"""Roles (docs/harvest-api.md §7.5) and teammates (§7.1): memberships and their events."""

from __future__ import annotations

from thresher.harvest._models import Role
from thresher.store import ChangeEvent, Store, StoredConnection

from .factories import at, make_role


def apply_roles(
    store: Store, conn: StoredConnection, roles: list[Role], *, seconds: float = 0, complete: bool = True
) -> list[ChangeEvent]:
    with store.transaction() as tx:
        return tx.apply_roles(conn.id, roles, observed_at=at(seconds), source="sync", complete=complete)


def set_teammates(store: Store, conn: StoredConnection, manager: int, ids: list[int]) -> list[ChangeEvent]:
    with store.transaction() as tx:
        return tx.set_teammates(conn.id, manager, ids, observed_at=at(0), source="write")


def test_roles_are_created_with_members(store: Store, conn: StoredConnection) -> None:
    events = apply_roles(store, conn, [make_role(10, "Design", [3, 1, 1]), make_role(11, "Sales")])
    assert [(e.resource, e.kind, e.harvest_id) for e in events] == [
        ("role", "created", 10),
        ("role", "created", 11),
    ]
    assert events[0].changes == {
        "name": {"before": None, "after": "Design"},
        "user_ids": {"before": None, "after": [1, 3]},
        "created_at": {"before": None, "after": "2021-05-01T12:00:00+00:00"},
    }
    roles = store.list_roles(conn.id)
    assert [(r.harvest_id, r.name, r.user_ids) for r in roles] == [(10, "Design", [1, 3]), (11, "Sales", [])]
    assert roles[0].as_dict()["user_ids"] == [1, 3]


def test_role_changes_and_identical_lists(store: Store, conn: StoredConnection) -> None:
    apply_roles(store, conn, [make_role(10, "Design", [1, 3])])
    # The full list again, members in another order: nothing changed.
    assert apply_roles(store, conn, [make_role(10, "Design", [3, 1])], seconds=60) == []
    [event] = apply_roles(store, conn, [make_role(10, "Product design", [3, 4])], seconds=120)
    assert (event.kind, event.changes) == (
        "updated",
        {
            "name": {"before": "Design", "after": "Product design"},
            "user_ids": {"before": [1, 3], "after": [3, 4]},
        },
    )
    assert store.list_roles(conn.id)[0].user_ids == [3, 4]


def test_a_complete_list_tombstones_missing_roles(store: Store, conn: StoredConnection) -> None:
    apply_roles(store, conn, [make_role(10, "Design", [1]), make_role(11, "Sales", [2])])
    # A write-through of one role does not imply the others are gone.
    assert apply_roles(store, conn, [make_role(10, "Design", [1])], complete=False) == []
    [event] = apply_roles(store, conn, [make_role(10, "Design", [1])], seconds=10)
    assert (event.kind, event.harvest_id) == ("deleted", 11)
    assert event.changes["name"] == {"before": "Sales", "after": None}
    assert event.changes["user_ids"] == {"before": [2], "after": None}
    assert [r.harvest_id for r in store.list_roles(conn.id)] == [10]
    [gone] = [r for r in store.list_roles(conn.id, include_deleted=True) if r.harvest_id == 11]
    assert gone.deleted_at == at(10)
    assert gone.user_ids == []
    # Gone roles stay gone until they reappear, which creates them again.
    assert apply_roles(store, conn, [make_role(10, "Design", [1])], seconds=20) == []
    [back] = apply_roles(store, conn, [make_role(10, "Design", [1]), make_role(11, "Sales", [5])])
    assert (back.kind, back.changes["user_ids"]) == ("created", {"before": None, "after": [5]})
    assert [r.user_ids for r in store.list_roles(conn.id)] == [[1], [5]]


def test_teammates_changes_are_recorded_on_the_manager(store: Store, conn: StoredConnection) -> None:
    [event] = set_teammates(store, conn, 100, [3, 2, 2])
    assert (event.resource, event.kind, event.harvest_id, event.source) == (
        "user",
        "teammates_changed",
        100,
        "write",
    )
    assert event.changes == {"teammate_ids": {"before": [], "after": [2, 3]}}
    assert store.get_teammates(conn.id, 100) == [2, 3]
    assert set_teammates(store, conn, 100, [2, 3]) == []
    [event] = set_teammates(store, conn, 100, [3, 4])
    assert event.changes == {"teammate_ids": {"before": [2, 3], "after": [3, 4]}}
    # PATCH .../teammates with [] clears them (§7.1).
    [event] = set_teammates(store, conn, 100, [])
    assert event.changes == {"teammate_ids": {"before": [3, 4], "after": []}}
    assert store.get_teammates(conn.id, 100) == []
    assert set_teammates(store, conn, 101, []) == []
