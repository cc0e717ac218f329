"""Reading a group costs the same few SQL statements whatever its size (RFC 7644 §3.4.1 GET of
one Group): its members are read in one batched lookup, not one query each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from harvest_clients import engine
from thresher.provision import WriteThrough
from thresher.sandbox import SandboxConfig
from thresher.scim import ScimBridge, TokenStore
from thresher.store import Store

from .conftest import BASE, make_harness


@contextmanager
def counting_statements(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


async def test_a_group_read_costs_the_same_statements_for_20_and_2000_members(store: Store) -> None:
    async for h in make_harness(store, SandboxConfig(users=2_000, seed=11, rate_limit=None)):
        ids = sorted(u.harvest_id for u in store.list_users(h.connection.id))[:2_000]
        assert len(ids) == 2_000
        small = await h.harvest.create_role("Small crew", ids[:20])
        large = await h.harvest.create_role("Whole company", ids)
        await engine(store, h.harvest, h.connection).run(full=True)
        hidden = ids[7]
        assert (await h.http.delete(f"/Users/{hidden}")).status_code == 204

        # A token trusted for the whole test, so no request of the count checks it again.
        tokens = TokenStore(store, cache_seconds=3_600)
        _, secret = tokens.create("counting")
        bridge = ScimBridge(WriteThrough(h.harvest, store, h.connection), tokens)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bridge.app),
            base_url=BASE,
            headers={"Authorization": f"Bearer {secret}"},
        ) as http:
            assert (await http.get(f"/Users/{ids[0]}")).status_code == 200  # checks the token
            counts: dict[int, int] = {}
            for role in (small, large):
                with counting_statements(store) as statements:
                    r = await http.get(f"/Groups/{role.id}")
                assert r.status_code == 200, r.text
                members = {int(m["value"]) for m in r.json()["members"]}
                assert members == set(role.user_ids) - {hidden}
                counts[len(role.user_ids)] = len(statements)
        # The role and its members, the members with their SCIM data, the group's externalId (and
        # on SQLite the BEGIN of each read).
        assert counts[20] == counts[2_000] <= 7, counts
