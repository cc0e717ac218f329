"""Which connection a command acts on (flags, then ``HARVEST_*``, then the saved default), what it
says when there is none, and that no repr or str of a connection, its credentials or its client
shows a token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from thresher.cli import main
from thresher.connections import (
    ENV_CONNECTION,
    Credentials,
    NoConnectionError,
    ResolvedConnection,
    SecretBox,
    oauth_login,
    open_client,
    resolve,
)
from thresher.harvest import Harvest, LimiterRegistry, OAuth2Token, OAuthApp, User
from thresher.store import Store

from .conftest import CLI_UA, Site

HARVEST_ENV = ("HARVEST_ACCESS_TOKEN", "HARVEST_ACCOUNT_ID")


@pytest.fixture
def store(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The site's store, opened in this process, with the site's key and no ``HARVEST_*`` token."""
    for name in HARVEST_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in ("THRESHER_SECRET_KEY", "XDG_CONFIG_HOME", "HARVEST_USER_AGENT", "HARVEST_BASE_URL",
                 "HARVEST_ID_URL"):
        monkeypatch.setenv(name, site.env[name])
    with site.store() as opened:
        yield opened


def _use_env_token(site: Site, monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("HARVEST_ACCESS_TOKEN", token)
    monkeypatch.setenv("HARVEST_ACCOUNT_ID", str(site.sandbox.credentials.account_id))


def _save(store: Store, site: Site, name: str, credentials: Credentials, *, default: bool) -> None:
    store.add_connection(
        name, site.sandbox.credentials.account_id, base_url=site.running.api_url,
        id_url=site.running.id_url, credentials_ref=SecretBox.from_env().seal(credentials),
        is_default=default,
    )


def _oauth_token(site: Site) -> OAuth2Token:
    """A real OAuth token: the authorization-code flow, the browser played by an HTTP client."""
    creds = site.sandbox.credentials
    app = OAuthApp(creds.oauth_client_id, creds.oauth_client_secret, site.running.id_url, CLI_UA)

    def browser(url: str) -> None:
        assert httpx.get(url, follow_redirects=True).status_code == 200

    return asyncio.run(oauth_login(app, "http://127.0.0.1:0/callback", browser))


async def _me(store: Store, connection: str | ResolvedConnection | None) -> User:
    async with open_client(store, connection, limiter_registry=LimiterRegistry()) as harvest:
        return await harvest.me()


def test_the_harvest_environment_is_the_env_connection(
    site: Site, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = site.sandbox.credentials
    _save(store, site, "acme", Credentials("pat", creds.manager_token, CLI_UA), default=True)
    _use_env_token(site, monkeypatch, creds.admin_token)

    resolved = resolve(store)
    assert resolved.name == ENV_CONNECTION
    assert resolved.credentials is None
    assert resolved.settings.access_token == creds.admin_token
    assert resolved.settings.base_url == site.running.api_url
    recorded = store.get_connection(ENV_CONNECTION)  # recorded, so syncs and events can name it
    assert (recorded.account_id, recorded.base_url) == (creds.account_id, site.running.api_url)
    assert resolve(store, ENV_CONNECTION).connection.id == recorded.id  # the same row again
    assert asyncio.run(_me(store, None)).access_roles == ["administrator"]

    # A name beats the environment: the saved (manager's) connection, its own token.
    picked = resolve(store, "acme")
    assert picked.name == "acme"
    assert picked.settings.access_token == creds.manager_token
    assert picked.credentials is not None
    assert picked.credentials.kind == "pat"


def test_without_the_environment_the_saved_default_is_used(site: Site, store: Store) -> None:
    creds = site.sandbox.credentials
    _save(store, site, "admin", Credentials("pat", creds.admin_token, CLI_UA), default=False)
    _save(store, site, "mgr", Credentials("pat", creds.manager_token, CLI_UA), default=True)
    assert resolve(store).name == "mgr"
    assert resolve(store, "admin").settings.access_token == creds.admin_token
    with pytest.raises(NoConnectionError) as no_env:
        resolve(store, ENV_CONNECTION)  # asked for by name, but the variables are not set
    assert no_env.value.hint is not None
    assert "HARVEST_ACCESS_TOKEN" in no_env.value.hint


def test_the_connection_flag_picks_a_saved_connection_over_the_environment(
    site: Site, store: Store
) -> None:
    creds = site.sandbox.credentials
    _save(store, site, "acme", Credentials("pat", creds.admin_token, CLI_UA), default=False)
    env = {**site.env, "HARVEST_ACCESS_TOKEN": creds.member_token,
           "HARVEST_ACCOUNT_ID": str(creds.account_id)}

    def sync(*args: str) -> str:
        """``thresher sync --json ARGS`` in this process; the connection the report names."""
        code: object = 0
        with CliRunner().isolation(env=env) as (out, err, _):
            try:
                main(["sync", "--json", *args])
            except SystemExit as exc:
                code = exc.code
            stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
        assert code in (0, None), stderr
        return str(json.loads(stdout)["connection"])

    assert sync("--connection", "acme") == "acme"
    assert sync("-c", "acme") == "acme"


def test_no_connection_at_all_says_how_to_make_one(store: Store) -> None:
    assert store.list_connections() == []
    with pytest.raises(NoConnectionError) as none:
        resolve(store)
    assert "no Harvest connection" in str(none.value)
    assert none.value.hint is not None
    assert "thresher login" in none.value.hint
    with pytest.raises(NoConnectionError):
        open_client(store)


def test_only_the_recorded_env_connection_left_says_how_to_make_one(
    site: Site, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_env_token(site, monkeypatch, site.sandbox.credentials.admin_token)
    assert resolve(store).name == ENV_CONNECTION  # recorded in the store
    for name in HARVEST_ENV:
        monkeypatch.delenv(name)
    with pytest.raises(NoConnectionError) as none:
        resolve(store)
    assert none.value.hint is not None
    assert "HARVEST_ACCESS_TOKEN" in none.value.hint
    assert "thresher login" in none.value.hint


def test_a_saved_connection_without_credentials_says_to_log_in(site: Site, store: Store) -> None:
    store.add_connection("bare", site.sandbox.credentials.account_id, base_url=site.running.api_url)
    with pytest.raises(NoConnectionError) as bare:
        resolve(store, "bare")
    assert bare.value.hint is not None
    assert "thresher login --name bare" in bare.value.hint


def test_no_repr_or_str_shows_a_token(
    site: Site, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = site.sandbox.credentials
    token = _oauth_token(site)
    assert token.refresh_token is not None
    oauth = Credentials(
        "oauth", token.access_token, CLI_UA, refresh_token=token.refresh_token,
        expires_at=token.expires_at, client_id=sandbox.oauth_client_id,
        client_secret=sandbox.oauth_client_secret, scope=token.scope,
    )
    _save(store, site, "oauth", oauth, default=True)
    _save(store, site, "pat", Credentials("pat", sandbox.manager_token, CLI_UA), default=False)
    secrets = [token.access_token, token.refresh_token, sandbox.oauth_client_secret,
               sandbox.manager_token, sandbox.admin_token]

    def shown(*objects: object) -> str:
        return "\n".join(f"{o!r} {o!s}" for o in objects)

    texts: list[str] = []
    for name in ("oauth", "pat"):
        resolved = resolve(store, name)
        assert resolved.credentials is not None
        texts.append(shown(resolved, resolved.credentials, resolved.settings, resolved.connection))
        client = open_client(store, resolved, limiter_registry=LimiterRegistry())
        texts.append(shown(client, client.settings))
        with Harvest(resolved.settings, limiter_registry=LimiterRegistry()) as blocking:
            texts.append(shown(blocking))
        asyncio.run(client.aclose())
    _use_env_token(site, monkeypatch, sandbox.admin_token)
    env = resolve(store)
    env_client = open_client(store, env, limiter_registry=LimiterRegistry())
    texts.append(shown(env, env.settings, env_client))
    asyncio.run(env_client.aclose())
    monkeypatch.delenv("HARVEST_ACCESS_TOKEN")

    assert "oauth" in texts[0]  # the reprs name the connection; they are not empty
    for text in texts:
        for secret in secrets:
            assert secret not in text
    # The clients do carry the tokens: the one from the OAuth login works against the sandbox.
    assert asyncio.run(_me(store, "oauth")).access_roles == ["administrator"]
    assert resolve(store, "oauth").credentials == oauth  # a valid token is not refreshed
