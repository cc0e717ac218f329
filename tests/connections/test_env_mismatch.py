"""A changed ``HARVEST_ACCOUNT_ID`` never costs the stored roster: commands refuse (exit 78, a
hint naming ``connections remove`` and ``--connection``), and only ``thresher connections remove``
deletes a connection's data, asking first (or needing ``--yes`` without a terminal).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from thresher.connections import open_client, resolve
from thresher.harvest import LimiterRegistry
from thresher.store import ScimRecords, ScimUserExtras, Store
from thresher.sync import RosterSync, SyncOptions

from .conftest import Site

#: Every table of a connection's data, counted and compared before and after.
TABLES = ("connections", "users", "roles", "role_members", "teammates", "sync_state",
          "change_events", "scim_users", "scim_groups")


def _env(site: Site, account_id: int) -> dict[str, str]:
    return {
        "HARVEST_ACCESS_TOKEN": site.sandbox.credentials.admin_token,
        "HARVEST_ACCOUNT_ID": str(account_id),
    }


def _snapshot(site: Site) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the connection's data (``sqlite3``, not thresher's code)."""
    path = Path(site.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(TABLES) <= names, names
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}  # noqa: S608


async def _first_sync(store: Store) -> None:
    async with open_client(store, None, limiter_registry=LimiterRegistry()) as client:
        await RosterSync(store, client, resolve(store).connection, SyncOptions()).run()


def test_a_changed_account_id_refuses_and_keeps_every_row(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = site.sandbox.credentials.account_id
    for name, value in {**site.env, **_env(site, account)}.items():
        if name.startswith(("HARVEST_", "THRESHER_")):
            monkeypatch.setenv(name, value)
    with site.store() as store:
        asyncio.run(_first_sync(store))  # this process as the first host of the store
        conn = store.get_connection("env")
        someone = store.list_users(conn.id)[0]
        ScimRecords(store, conn.id).save_user_extras(
            someone.harvest_id, ScimUserExtras(external_id="okta-1", department="Ops")
        )
    before = _snapshot(site)
    assert all(before[t] for t in ("users", "change_events", "scim_users"))

    other = _env(site, account + 1)
    for args in (("users", "list"), ("sync",)):
        run = site.thresher(*args, env=other)
        assert run.returncode == 78, (args, run.stdout, run.stderr)
        assert f"HARVEST_ACCOUNT_ID is {account + 1}" in run.stderr
        assert "thresher connections remove env" in run.stderr
        assert "--connection" in run.stderr
        assert _snapshot(site) == before

    with site.store() as store:  # the configured account again: everything is where it was
        assert resolve(store).connection == store.get_connection("env")
        assert len(store.list_users(store.get_connection("env").id)) == len(before["users"])


def test_connections_remove_needs_confirmation_without_a_terminal(site: Site) -> None:
    with site.store() as store:
        store.add_connection("acme", site.sandbox.credentials.account_id)
    before = _snapshot(site)

    refused = site.thresher("connections", "remove", "acme")  # stdin is not a terminal here
    assert refused.returncode != 0
    assert "thresher connections remove acme --yes" in refused.stderr
    assert _snapshot(site) == before

    removed = site.thresher("connections", "remove", "acme", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert _snapshot(site)["connections"] == []
