"""The SCIM bridge's DELETE /Users/{id} follows the connection's stored delete mode
(``thresher connections config NAME --scim-delete-mode``) over the bridge's ``--delete-mode``
flag, read at each DELETE: a change applies to a running bridge (docs/scale-out.md)."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from scim.conftest import Harness, make_harness
from thresher.cli import main
from thresher.sandbox import SandboxConfig
from thresher.scim import DeleteMode
from thresher.store import Store

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
        # Any stored setting stores a delete mode too (the default, archive), and it then wins:
        # `connections config NAME` shows it (docs/scale-out.md, "SCIM delete mode").
        _config(store, "--interval", "300")
        assert await _removed(h) == "archived"
