"""The change log is complete: replaying it over an earlier snapshot gives the later one.

At the store's level: random sequences of creates, updates, archives, restores,
role changes, quiet re-reads, write-through deletes and full reconciliations. After
each sequence the mirror equals a model of Harvest, and replaying the events recorded after a
snapshot over it reproduces the mirror (strictly: every event's ``before`` must match).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thresher.harvest._models import User
from thresher.store import ReplayError, Store, replay, user_snapshot

from .factories import at, make_user

_names = itertools.count()

users = st.builds(
    lambda hid, first, active, rate, roles, access, tz, minute: make_user(
        hid,
        first_name=first,
        is_active=active,
        default_hourly_rate=rate,
        roles=roles,
        access_roles=access,
        timezone=tz,
        updated_at=f"2024-01-01T00:{minute:02d}:00Z",
    ),
    hid=st.integers(1, 6),
    first=st.sampled_from(["Ada", "Grace", "Alan"]),
    active=st.booleans(),
    rate=st.sampled_from([None, "0", "100.0", "100.00", "37.5"]),
    roles=st.sampled_from([[], ["Design"], ["Design", "Sales"], ["Sales", "Design"]]),
    access=st.sampled_from([["member"], ["manager", "people_manager"], ["administrator"]]),
    tz=st.sampled_from(["Eastern Time (US & Canada)", "London", None]),
    minute=st.integers(0, 2),
)

Op = tuple[Any, ...]
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("apply"), st.lists(users, min_size=1, max_size=5), st.sampled_from(["sync", "write"])
        ),
        st.tuples(st.just("full"), st.lists(users, max_size=6)),
        st.tuples(st.just("delete"), st.integers(1, 6)),
        st.tuples(st.just("quiet")),
        st.tuples(st.just("teammates"), st.integers(1, 6), st.lists(st.integers(1, 6), max_size=3)),
    ),
    max_size=8,
)


class Harness:
    """Runs operations on the store and on a model of what Harvest holds."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.connection = store.add_connection(f"replay-{next(_names)}", 1)
        self.expected: dict[int, dict[str, Any]] = {}
        self.last: dict[int, User] = {}
        self.clock = 0
        self.runs = itertools.count()

    def tick(self) -> Any:
        self.clock += 1
        return at(self.clock)

    def run(self, op: Op) -> None:
        cid = self.connection.id
        kind = op[0]
        with self.store.transaction() as tx:
            if kind == "apply":
                tx.apply_users(cid, op[1], observed_at=self.tick(), source=op[2])
                for user in op[1]:
                    self.expected[user.id] = user_snapshot(user)
                    self.last[user.id] = user
            elif kind == "full":
                run_id = f"run-{next(self.runs)}"
                tx.apply_users(cid, op[1], observed_at=self.tick(), run_id=run_id)
                tx.tombstone_missing_users(cid, run_id, observed_at=self.tick())
                self.expected = {u.id: user_snapshot(u) for u in op[1]}
                self.last = {u.id: u for u in op[1]}
            elif kind == "delete":
                tx.mark_user_deleted(cid, op[1], observed_at=self.tick())
                self.expected.pop(op[1], None)
                self.last.pop(op[1], None)
            elif kind == "quiet":
                # A re-read of an unchanged roster (an overlapping window): nothing to report.
                assert tx.apply_users(cid, list(self.last.values()), observed_at=self.tick()) == []
            else:
                tx.set_teammates(cid, op[1], op[2], observed_at=self.tick(), source="sync")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=ops, after=ops)
def test_replaying_the_log_over_a_snapshot_gives_the_final_state(
    store: Store, before: list[Op], after: list[Op]
) -> None:
    harness = Harness(store)
    cid = harness.connection.id
    for op in before:
        harness.run(op)
    snapshot = store.snapshot_users(cid)
    assert snapshot == harness.expected
    cursor = store.last_event_id(cid)
    for op in after:
        harness.run(op)
    final = store.snapshot_users(cid)
    assert final == harness.expected
    assert replay(snapshot, store.list_events(cid, since=cursor)) == final
    assert replay({}, store.list_events(cid)) == final


def test_replay_is_strict_about_events_that_do_not_fit(store: Store) -> None:
    connection = store.add_connection("strict", 1)
    with store.transaction() as tx:
        [created] = tx.apply_users(connection.id, [make_user(1)], observed_at=at(0))
        [renamed] = tx.apply_users(connection.id, [make_user(1, first_name="B")], observed_at=at(1))
    with pytest.raises(ReplayError, match="already in the snapshot"):
        replay(store.snapshot_users(connection.id), [created])
    with pytest.raises(ReplayError, match="absent from the snapshot"):
        replay({}, [renamed])
    with pytest.raises(ReplayError, match="first_name"):
        replay({1: {**user_snapshot(make_user(1)), "first_name": "X"}}, [renamed])
    assert replay({}, [renamed], strict=False) == {}
    # The input snapshot is not modified.
    snapshot = {1: user_snapshot(make_user(1))}
    assert replay(snapshot, [renamed])[1]["first_name"] == "B"
    assert snapshot[1]["first_name"] == "First1"
