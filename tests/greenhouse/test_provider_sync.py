"""A Greenhouse connection in the store: saved with its secret sealed, resolved, its token reused,
its Greenhouse-only fields in the change log; the Harvest path refuses it. Real SQLite and
PostgreSQL (``store``), the Greenhouse sandbox in-process. The sync's shared guarantees (full,
incremental, resumed, reconciled, tombstones) are tests/sync/test_sync.py's conformance tests,
run for this provider too."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from thresher.connections import (
    SecretBox,
    UnsupportedProviderError,
    open_client,
    resolve,
    resolve_greenhouse,
)
from thresher.greenhouse import UserUpdate
from thresher.store import Store, greenhouse_fields
from thresher.sync import SyncError

from .conftest import Target
from .provider_harness import save_site, settings_for


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHER_SECRET_KEY", "greenhouse-provider-tests-secret")
    monkeypatch.setenv("GREENHOUSE_RATE_LIMIT", "10000/1s")
    for var in ("GREENHOUSE_SUB", "GREENHOUSE_CLIENT_ID", "GREENHOUSE_CLIENT_SECRET", "HARVEST_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def test_a_saved_greenhouse_connection_keeps_its_secret_sealed(asgi_target: Target, store: Store) -> None:
    site = save_site(asgi_target, store)
    row = store.get_connection("gh")
    secret = asgi_target.sandbox.credential("full").client_secret
    assert row.provider == "greenhouse"
    assert row.client_id == asgi_target.sandbox.credential("full").client_id
    assert row.sub == str(asgi_target.sandbox.state.admin_id)
    assert row.credentials_ref is not None
    assert secret not in row.credentials_ref
    assert secret not in repr(site.resolved)
    assert row.as_dict()["provider"] == "greenhouse"
    again = resolve_greenhouse(store, "gh")
    assert again.settings.client_secret == secret
    assert again.settings.base_url == f"{asgi_target.origin}/v3"


async def test_the_harvest_path_refuses_a_greenhouse_connection(asgi_target: Target, store: Store) -> None:
    save_site(asgi_target, store)
    with pytest.raises(UnsupportedProviderError) as info:
        resolve(store, "gh")
    assert info.value.exit_code == 2
    assert "does not exist for Greenhouse connections" in str(info.value)
    # Callers serving both products ask for any provider, and branch on it.
    resolved = resolve(store, "gh", any_provider=True)
    assert resolved.connection.provider == "greenhouse"
    with pytest.raises(UnsupportedProviderError):
        open_client(store, resolved)


def test_a_harvest_connection_is_not_a_greenhouse_one(store: Store) -> None:
    store.add_connection("acme", 1)
    with pytest.raises(UnsupportedProviderError):
        resolve_greenhouse(store, "acme")


async def test_greenhouse_only_fields_are_mirrored_and_their_changes_logged(
    asgi_target: Target, store: Store
) -> None:
    # The shared fields, windows, resumes and tombstones are tests/sync/test_sync.py's conformance
    # tests (``provider``); what only Greenhouse has lives in ``greenhouse_users`` (r0010).
    site = save_site(asgi_target, store)
    await site.sync()
    state = asgi_target.sandbox.state
    extra = greenhouse_fields(store, site.connection_id)
    assert extra[state.admin_id]["employee_id"] == state.users[state.admin_id].employee_id
    target_id = next(
        u.id
        for u in state.users.values()
        if not u.deactivated and u.id != state.admin_id and not u.service_account
    )
    async with site.open() as client:
        await client.update_user(target_id, UserUpdate(employee_id="E-4242"))
    await site.sync()
    updated = store.list_events(site.connection_id, kind="updated")
    assert [e.changes["employee_id"]["after"] for e in updated if e.harvest_id == target_id] == ["E-4242"]


async def test_a_page_size_above_greenhouse_s_maximum_is_refused(asgi_target: Target, store: Store) -> None:
    site = save_site(asgi_target, store)
    with pytest.raises(SyncError) as info:
        await site.sync(per_page=2000)
    assert "500" in (info.value.hint or "")


async def test_the_minted_token_is_saved_and_reused(asgi_target: Target, store: Store) -> None:
    site = save_site(asgi_target, store)
    await site.sync()
    creds = resolve_greenhouse(store, "gh").credentials
    assert creds.access_token is not None
    assert creds.access_token not in (store.get_connection("gh").credentials_ref or "")
    before = sum(1 for r in asgi_target.sandbox.requests if r.get("path") == "/token")
    await site.sync()
    after = sum(1 for r in asgi_target.sandbox.requests if r.get("path") == "/token")
    assert after == before
    assert SecretBox.from_env().open_text(store.get_connection("gh").credentials_ref or "")


def test_settings_for_the_basic_user(asgi_target: Target) -> None:
    assert settings_for(asgi_target, sub="basic").sub == str(asgi_target.sandbox.state.basic_id)


def test_r0010_keeps_every_mirror_row_and_makes_existing_connections_harvest(store: Store) -> None:
    import datetime as dt

    from alembic import command

    from thresher.harvest import User
    from thresher.store._migrate import config

    with store.engine.begin() as db:
        command.downgrade(config(db), "0007")
    with store.engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO connections (name, account_id, base_url, id_url, is_default, created_at, "
                "credentials_version) VALUES ('acme', 7, 'https://api.example', 'https://id.example', "
                "false, CURRENT_TIMESTAMP, 0)"
            )
        )
    store.upgrade()
    acme = store.get_connection("acme")
    assert (acme.provider, acme.client_id, acme.sub) == ("harvest", None, None)
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with store.transaction() as tx:
        tx.apply_users(
            acme.id,
            [
                User(
                    id=1,
                    first_name="A",
                    last_name="B",
                    email="a@example.com",
                    created_at=when,
                    updated_at=when,
                )
            ],
            observed_at=when,
        )
    with store.engine.begin() as db:
        command.downgrade(config(db), "0007")
    store.upgrade()
    assert [u.harvest_id for u in store.list_users(store.get_connection("acme").id)] == [1]
