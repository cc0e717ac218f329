"""What ``thresher login`` and ``thresher demo`` rely on in ``thresher.connections``: check a token
before anything is saved, save it sealed, and reach Harvest again through ``open_client``."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from harvest_clients import UA, settings_for
from thresher.connections import (
    BLOB_PREFIX,
    Credentials,
    NoConnectionError,
    SecretBox,
    open_client,
    reachable_accounts,
    resolve,
    save_connection,
    token_owner,
)
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import Store

SECRET = "test-secret-key-for-thresher-connections"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(users=6, seed=3, rate_limit=None)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET)
    for name in ("HARVEST_ACCESS_TOKEN", "HARVEST_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)


def _transport(sandbox: Sandbox) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=sandbox.app)


async def test_a_login_is_checked_then_saved_sealed_and_opened_again(
    sandbox: Sandbox, store: Store
) -> None:
    creds = sandbox.credentials
    settings = settings_for(sandbox)
    accounts = await reachable_accounts(
        settings.replace(account_id=None), transport=_transport(sandbox)
    )
    assert creds.account_id in [a.id for a in accounts]
    owner = await token_owner(settings, transport=_transport(sandbox))
    assert "administrator" in owner.access_roles

    login = Credentials(kind="pat", access_token=creds.admin_token, user_agent=UA, user_id=owner.id)
    saved = save_connection(store, "acme", settings, login, label="Acme", make_default=True)
    assert saved.connection.is_default
    blob = store.get_connection("acme").credentials_ref
    assert blob is not None
    assert blob.startswith(BLOB_PREFIX)
    assert creds.admin_token not in blob
    assert SecretBox.from_env().open(blob) == login

    again = resolve(store)  # the saved default, with its credentials decrypted
    assert again.name == "acme"
    assert again.credentials == login
    assert again.own_user_id == owner.id
    async with open_client(store, again, transport=_transport(sandbox)) as client:
        assert (await client.me()).id == owner.id

    # Logging in again under the same name replaces the credentials, keeping the default.
    member = dataclasses.replace(login, access_token=creds.member_token)
    save_connection(store, "acme", settings, member, label="Acme")
    assert [(c.name, c.is_default) for c in store.list_connections()] == [("acme", True)]
    assert resolve(store, "acme").credentials == member


async def test_without_credentials_nothing_secret_is_saved(sandbox: Sandbox, store: Store) -> None:
    # The demo's case: the token belongs to a sandbox that lives only as long as the command.
    resolved = save_connection(store, "demo", settings_for(sandbox))
    assert store.get_connection("demo").credentials_ref is None
    async with open_client(store, resolved, transport=_transport(sandbox)) as client:
        assert (await client.me()).email
    with pytest.raises(NoConnectionError, match="no saved credentials"):
        resolve(store, "demo")


def test_a_connection_needs_an_account(sandbox: Sandbox, store: Store) -> None:
    with pytest.raises(ValueError, match="account_id"):
        save_connection(store, "nowhere", settings_for(sandbox).replace(account_id=None))
    assert store.list_connections() == []
