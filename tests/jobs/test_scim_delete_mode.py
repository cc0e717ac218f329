"""The SCIM bridge's DELETE /Users/{id} follows the connection's stored delete mode
(``thresher connections config NAME --scim-delete-mode``) over the bridge's ``--delete-mode``
flag, read at each DELETE: a change applies to a running bridge (docs/scale-out.md). A connection
whose settings name no mode (NULL, r0011) follows the flag."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from alembic import command
from sqlalchemy import text
from typer.testing import CliRunner

from scim.conftest import Harness, make_harness
from thresher.cli import main
from thresher.sandbox import SandboxConfig
from thresher.scim import DeleteMode
from thresher.store import ConnectionSettingsStore, Store
from thresher.store._migrate import config

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _config(store: Store, *args: str) -> None:
    runner = CliRunner()
    with runner.isolation(env={"THRESHER_DATABASE_URL": store.url, "COLUMNS": "200"}) as (out, err, _):
        code: object = 0
        try:
            main(["connections", "config", "sandbox", *args])
        except SystemExit as exc:
            code = exc.code
        assert code in (0, None), (out.getvalue(), err.getvalue())


async def _removed(h: Harness) -> str:
    """Provision a fresh user (no time logged: Harvest lets it be deleted), DELETE it through the
    bridge, and say what Harvest did: ``deleted`` or ``archived``."""
    email = f"leaver.{uuid.uuid4().hex[:8]}@example.com"
    made = await h.http.post("/Users", json={
        "schemas": [USER], "userName": email, "name": {"givenName": "Lea", "familyName": "Ver"},
    })
    assert made.status_code == 201, made.text
    uid = int(made.json()["id"])
    assert (await h.http.delete(f"/Users/{uid}")).status_code == 204
    assert (await h.http.get(f"/Users/{uid}")).status_code == 404  # gone for the IdP either way
    user = h.sandbox.state.users.get(uid)
    if user is None:
        return "deleted"
    assert user.is_active is False
    return "archived"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(users=3, seed=5, rate_limit=None)


async def test_the_stored_mode_wins_over_the_flag_and_applies_without_a_restart(
    store: Store, sandbox_config: SandboxConfig
) -> None:
    async for h in make_harness(store, sandbox_config, delete_mode=DeleteMode.archive):
        assert await _removed(h) == "archived"  # nothing stored: the flag
        _config(store, "--scim-delete-mode", "delete")
        assert await _removed(h) == "deleted"  # the same bridge, no restart
        _config(store, "--scim-delete-mode", "archive")
        assert await _removed(h) == "archived"


async def test_the_flag_applies_to_a_connection_without_stored_settings(
    store: Store, sandbox_config: SandboxConfig
) -> None:
    async for h in make_harness(store, sandbox_config, delete_mode=DeleteMode.delete):
        assert await _removed(h) == "deleted"


async def test_other_settings_leave_the_flag_in_charge_and_default_clears_a_stored_mode(
    store: Store, sandbox_config: SandboxConfig
) -> None:
    async for h in make_harness(store, sandbox_config, delete_mode=DeleteMode.delete):
        # Setting something else stores no delete mode of its own (NULL, r0011): the flag decides.
        _config(store, "--interval", "300")
        settings = ConnectionSettingsStore(store).get(store.get_connection("sandbox").id)
        assert settings.updated_at is not None
        assert settings.scim_delete_mode is None
        assert await _removed(h) == "deleted"
        _config(store, "--scim-delete-mode", "archive")
        assert await _removed(h) == "archived"
        _config(store, "--scim-delete-mode", "default")  # forget it: the flag again
        assert await _removed(h) == "deleted"
        assert ConnectionSettingsStore(store).get(store.get_connection("sandbox").id).interval_s == 300


def _settings_row(store: Store, connection_id: int, mode: str) -> None:
    with store.engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO connection_settings (connection_id, interval_s, reconcile_s, teammates, "
                "scim_delete_mode, paused, updated_at) VALUES (:id, 60, 3600, 'changed', :mode, false, "
                "CURRENT_TIMESTAMP)"
            ),
            {"id": connection_id, "mode": mode},
        )


def test_r0011_keeps_stored_modes_and_its_downgrade_restores_archive(store: Store) -> None:
    kept = store.add_connection("kept", 1)
    chose = store.add_connection("chose", 2)
    fresh = store.add_connection("fresh", 3)
    with store.engine.begin() as db:
        command.downgrade(config(db), "0010")
    # Rows from before r0011 (one of them may have been written by --interval alone: it cannot
    # be told, so both keep what they say).
    _settings_row(store, kept.id, "archive")
    _settings_row(store, chose.id, "delete")
    store.upgrade()
    settings = ConnectionSettingsStore(store)
    assert settings.get(kept.id).scim_delete_mode == "archive"
    assert settings.get(chose.id).scim_delete_mode == "delete"
    assert settings.update(fresh.id, now=dt.datetime.now(dt.UTC), interval_s=30).scim_delete_mode is None
    with store.engine.begin() as db:
        command.downgrade(config(db), "0010")
    with store.engine.begin() as db:
        rows = db.execute(text("SELECT connection_id, scim_delete_mode FROM connection_settings"))
        modes: dict[int, str] = {r[0]: r[1] for r in rows}
    assert modes == {kept.id: "archive", chose.id: "delete", fresh.id: "archive"}
    store.upgrade()  # and back: the mode can be cleared again
    cleared = settings.update(fresh.id, now=dt.datetime.now(dt.UTC), scim_delete_mode=None)
    assert cleared.scim_delete_mode is None
