"""Resolving which store and which Harvest connection a command works on.

Order (design.md contracts): flags, then environment, then stored connections. With the
``HARVEST_*`` variables set they form the default connection, so scripts, CI and containers need no
``thresher login``; ``--connection NAME`` picks a saved one (``thresher login``) instead. Saved
connections carry their credentials encrypted (``thresher.provision.SecretBox``); refreshed OAuth
tokens are sealed and saved back at once.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from thresher._errors import ThresherError
from thresher.harvest import AsyncHarvest, HarvestSettings, OAuth2Auth, OAuth2Token, OAuthApp
from thresher.provision import Credentials, SecretBox
from thresher.store import Connection, Store

__all__ = [
    "ENV_CONNECTION",
    "Resolved",
    "open_client",
    "open_store",
    "resolve",
    "resolve_connection",
]

#: Name under which the connection formed by the HARVEST_* variables is recorded in the store.
ENV_CONNECTION = "env"


def open_store(database_url: str | None) -> Store:
    """The store at ``--database-url``, else ``THRESHER_DATABASE_URL``, else the default file."""
    return Store.open(database_url)


def _env_settings() -> HarvestSettings | None:
    if not (os.environ.get("HARVEST_ACCESS_TOKEN") and os.environ.get("HARVEST_ACCOUNT_ID")):
        return None
    return HarvestSettings.from_env()


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A connection, the settings to reach it and, for a saved one, its decrypted credentials."""

    connection: Connection
    settings: HarvestSettings
    credentials: Credentials | None = dataclasses.field(default=None, repr=False)

    @property
    def own_user_id(self) -> int | None:
        """The token owner's user id when known without a request (saved at login)."""
        return self.credentials.user_id if self.credentials else None


def _from_env(store: Store, settings: HarvestSettings) -> Resolved:
    assert settings.account_id is not None
    connection = store.get_connection_or_none(ENV_CONNECTION)
    if connection is None or connection.account_id != settings.account_id:
        if connection is not None:
            store.remove_connection(ENV_CONNECTION)
        connection = store.add_connection(
            ENV_CONNECTION,
            account_id=settings.account_id,
            base_url=settings.base_url,
            id_url=settings.id_url,
            label="from HARVEST_* environment variables",
        )
    return Resolved(connection, settings)


def _from_store(store: Store, connection: Connection) -> Resolved:
    if connection.credentials_ref is None:
        raise ThresherError(
            f"the connection {connection.name!r} has no saved credentials",
            hint=f"Run 'thresher login --name {connection.name}' or set the HARVEST_* variables.",
        )
    credentials = SecretBox.from_env().open(connection.credentials_ref)
    overrides: dict[str, Any] = {
        "access_token": credentials.access_token,
        "account_id": connection.account_id,
        "base_url": connection.base_url,
        "id_url": connection.id_url,
        "user_agent": os.environ.get("HARVEST_USER_AGENT") or credentials.user_agent,
    }
    return Resolved(connection, HarvestSettings(**overrides), credentials)


def resolve(store: Store, name: str | None) -> Resolved:
    """The connection a command acts on (flag, then HARVEST_* env, then the saved default)."""
    settings = _env_settings()
    if settings is not None and settings.account_id is not None and name in (None, ENV_CONNECTION):
        return _from_env(store, settings)
    if name == ENV_CONNECTION or (name is None and not store.list_connections()):
        raise ThresherError(
            "no Harvest connection is configured" + (f" named {name!r}" if name else ""),
            hint=(
                "Run 'thresher login', or set HARVEST_ACCESS_TOKEN, HARVEST_ACCOUNT_ID and "
                "HARVEST_USER_AGENT, or try the embedded sandbox with 'thresher demo'."
            ),
        )
    connection = store.get_connection(name)
    if connection.name == ENV_CONNECTION:
        raise ThresherError(
            "the 'env' connection needs the HARVEST_* environment variables",
            hint="Set HARVEST_ACCESS_TOKEN, HARVEST_ACCOUNT_ID and HARVEST_USER_AGENT.",
        )
    return _from_store(store, connection)


def resolve_connection(store: Store, name: str | None) -> tuple[Connection, HarvestSettings]:
    """The connection a command acts on and the settings to reach it."""
    resolved = resolve(store, name)
    return resolved.connection, resolved.settings


def open_client(store: Store, resolved: Resolved, **client_options: Any) -> AsyncHarvest:
    """A client for ``resolved``; OAuth connections refresh and save the new tokens sealed."""
    creds = resolved.credentials
    if creds is None or creds.kind != "oauth" or not (creds.client_id and creds.client_secret):
        return AsyncHarvest(resolved.settings, **client_options)
    app = OAuthApp(
        creds.client_id, creds.client_secret, resolved.settings.id_url, resolved.settings.user_agent
    )
    name = resolved.connection.name

    def save(token: OAuth2Token) -> None:
        latest = creds.with_token(token)
        store.update_connection(name, credentials_ref=SecretBox.from_env().seal(latest))

    auth = OAuth2Auth(creds.oauth_token, app, on_refresh=save)
    return AsyncHarvest(resolved.settings, auth=auth, **client_options)
