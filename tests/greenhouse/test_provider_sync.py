"""A Greenhouse connection end to end in the store: saved, resolved, synced (full, incremental,
resumed, reconciled), with its Greenhouse-only fields in the change log; the Harvest path refuses
it. Real SQLite and PostgreSQL (``store``), the Greenhouse sandbox in-process."""

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
from thresher.store import USERS_RESOURCE, Store, greenhouse_fields
from thresher.sync import GreenhouseSync, SyncError, SyncOptions

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


async def test_full_sync_mirrors_every_user_with_the_shared_fields(asgi_target: Target, store: Store) -> None:
    site = save_site(asgi_target, store)
    report = await site.sync()
    assert report.kind == "full"
    state = asgi_target.sandbox.state
    listed = [u for u in state.users.values() if not u.service_account]
    assert report.users_seen == len(listed)
    assert report.events["created"] == len(listed)
    mirrored = {u.harvest_id: u for u in store.list_users(site.connection_id)}
    assert set(mirrored) == {u.id for u in listed}
    for user in listed:
        got = mirrored[user.id]
        assert (got.first_name, got.last_name) == (user.first_name, user.last_name)
        assert got.email == user.primary_email
        assert got.is_active is (not user.deactivated)
        assert ("site_admin" in got.access_roles) is user.site_admin
    extra = greenhouse_fields(store, site.connection_id)
    assert extra[state.admin_id]["employee_id"] == state.users[state.admin_id].employee_id
    # A second run reads again and records nothing.
    again = await site.sync(full=True)
    assert again.changes == 0


async def test_incremental_sync_reads_only_what_changed_and_logs_it(
    asgi_target: Target, store: Store
) -> None:
    site = save_site(asgi_target, store)
    await site.sync()
    state = asgi_target.sandbox.state
    target_id = next(
        u.id
        for u in state.users.values()
        if not u.deactivated and u.id != state.admin_id and not u.service_account
    )
    async with site.open() as client:
        await client.deactivate_user(target_id)
        await client.update_user(target_id, UserUpdate(employee_id="E-4242", first_name="Renamed"))
    report = await site.sync()
    assert report.kind == "incremental"
    assert report.users_seen < len(state.users) - 1
    events = [e for e in store.list_events(site.connection_id) if e.harvest_id == target_id]
    kinds = [e.kind for e in events]
    assert kinds[0] == "created"
    assert "archived" in kinds
    updated = [e for e in events if e.kind == "updated"]
    assert any(e.changes.get("first_name", {}).get("after") == "Renamed" for e in updated)
    assert any(e.changes.get("employee_id", {}).get("after") == "E-4242" for e in updated)
    mirrored = store.get_user(site.connection_id, target_id)
    assert mirrored is not None
    assert mirrored.is_active is False


async def test_an_interrupted_listing_resumes_from_its_last_page(asgi_target: Target, store: Store) -> None:
    site = save_site(asgi_target, store)

    class Stop(Exception):
        pass

    def stop_after_first_page(stage: str, done: int, total: int | None) -> None:
        raise Stop

    async with site.open() as client:
        engine = GreenhouseSync(store, client, store.get_connection("gh"), SyncOptions(per_page=10))
        with pytest.raises(Stop):
            await engine.run(progress=stop_after_first_page)
    state = store.get_sync_state(site.connection_id, USERS_RESOURCE)
    assert state.in_progress
    assert state.resume_url is not None
    assert len(store.list_users(site.connection_id)) == 10
    report = await site.sync(per_page=10)
    assert report.resumed
    assert report.kind == "full"
    assert report.caught_up
    listed = {u.id for u in asgi_target.sandbox.state.users.values() if not u.service_account}
    assert {u.harvest_id for u in store.list_users(site.connection_id)} == listed
    assert report.events["created"] == len(listed) - 10


async def test_a_user_gone_from_the_listing_becomes_a_tombstone(asgi_target: Target, store: Store) -> None:
    site = save_site(asgi_target, store)
    await site.sync()
    state = asgi_target.sandbox.state
    gone = next(
        u.id
        for u in state.users.values()
        if u.id not in (state.admin_id, state.basic_id) and not u.service_account
    )
    del state.users[gone]
    report = await site.sync(full=True)
    assert report.events["deleted"] == 1
    assert store.get_user(site.connection_id, gone) is None


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
