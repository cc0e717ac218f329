"""§3 pagination: a cursor listing that runs while records are created or deleted skips no record
that existed throughout and repeats none, in either direction."""

from __future__ import annotations

import random
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox_harness import Api, query_of
from starlette.datastructures import QueryParams

from conftest import LiveSandbox
from thresher.sandbox._pagination import NewestFirst, envelope, read_page_query

# One step between two pages: create k users (new, higher ids) and delete some existing ones.
_steps = st.lists(st.tuples(st.integers(0, 3), st.lists(st.integers(0, 10_000), max_size=3)), max_size=30)


def _walk(
    ids: list[int], per_page: int, steps: list[tuple[int, list[int]]], *, backwards: bool
) -> tuple[list[int], set[int]]:
    """Follow links (next, or previous from the last page) while mutating ``ids`` between pages;
    returns the ids seen in order and the ids present from start to end."""
    throughout = set(ids)
    seen: list[int] = []
    start = {"per_page": str(per_page)}
    if backwards:
        start["page"] = str(max(1, -(-len(ids) // per_page)))
    params = QueryParams(start)
    for step in [*steps, *([(0, [])] * 10_000)]:
        body: dict[str, Any] = orjson.loads(
            envelope(
                "users",
                read_page_query(params),
                NewestFirst(ids),
                orjson.dumps,
                origin="http://sandbox.test",
                path="/v2/users",
            )
        )
        seen.extend(body["users"])
        link = body["links"]["previous" if backwards else "next"]
        if link is None:
            return seen, throughout
        created, deleted = step
        for _ in range(created):
            ids.append((ids[-1] if ids else 0) + 1)
        for pick in deleted:
            if ids:
                gone = ids.pop(pick % len(ids))
                throughout.discard(gone)
        params = QueryParams({k: v[0] for k, v in query_of(link).items()})
    raise AssertionError("the listing did not end")


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 60), per_page=st.integers(1, 9), steps=_steps, backwards=st.booleans())
def test_listing_during_creates_and_deletes_skips_and_repeats_nothing(
    n: int, per_page: int, steps: list[tuple[int, list[int]]], backwards: bool
) -> None:
    ids = list(range(1, n + 1))
    seen, throughout = _walk(ids, per_page, steps, backwards=backwards)
    assert len(seen) == len(set(seen)), "a record was repeated"
    assert throughout <= set(seen), "a record that existed throughout was skipped"
    order = sorted(seen) if backwards else sorted(seen, reverse=True)
    if not backwards:
        assert seen == order  # newest first


def test_live_listing_while_users_are_created_and_deleted(fresh_live_sandbox: LiveSandbox) -> None:
    live = fresh_live_sandbox
    api = Api(live.client, live.headers)
    rng = random.Random(5)
    before = {u["id"] for u in api.get("/v2/users").json()["users"]}
    tracked = live.sandbox.state.time_entries  # users with time cannot be deleted
    deletable = sorted(
        uid for uid in before if uid not in tracked and live.sandbox.state.users[uid].is_active
    )
    seen: list[int] = []
    deleted: set[int] = set()
    response = api.get("/v2/users", params={"per_page": 4})
    counter = 0
    while True:
        body = response.json()
        seen.extend(u["id"] for u in body["users"])
        if body["links"]["next"] is None:
            break
        for _ in range(rng.randint(0, 2)):
            counter += 1
            created = api.post(
                "/v2/users",
                json={"first_name": "New", "last_name": str(counter), "email": f"new{counter}@example.com"},
            )
            assert created.status_code == 201
        if deletable and rng.random() < 0.7:
            victim = deletable.pop(rng.randrange(len(deletable)))
            assert api.delete("/v2/users/{id}", id=victim).status_code == 200
            deleted.add(victim)
        response = api.client.get(body["links"]["next"], headers=live.headers())
    assert len(seen) == len(set(seen))
    assert before - deleted <= set(seen)
    assert deleted  # the test did delete while listing
