"""Connections made and managed by a program (a platform onboarding its customers): create from a
personal access token or an OAuth result, list with their settings, pause, resume, delete.

Creation goes through ``thresher.connections.save_connection`` (credentials sealed like
``thresher login``'s); settings live in ``connection_settings`` (``ConnectionSettingsStore``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from thresher.connections import Credentials, save_connection
from thresher.harvest import HarvestSettings, OAuth2Token
from thresher.store import (
    DEFAULT_BASE_URL,
    DEFAULT_ID_URL,
    ConnectionSettings,
    ConnectionSettingsStore,
    Store,
    StoredConnection,
)

__all__ = [
    "ManagedConnection",
    "configure_connection",
    "create_connection",
    "delete_connection",
    "list_managed",
    "pause_connection",
    "resume_connection",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class ManagedConnection:
    connection: StoredConnection
    settings: ConnectionSettings

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.connection.as_dict().items() if k != "credentials_ref"}
        return {**data, "settings": self.settings.as_dict()}


def create_connection(
    store: Store,
    name: str,
    *,
    account_id: int,
    token: str | None = None,
    oauth: OAuth2Token | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    id_url: str = DEFAULT_ID_URL,
    user_agent: str = "thresher (https://github.com/thresher/thresher)",
    label: str | None = None,
    **settings: Any,
) -> ManagedConnection:
    """Record a connection from a personal access ``token`` or an ``oauth`` result (with the
    OAuth app's ``client_id``/``client_secret`` so workers can refresh it), then apply
    ``settings`` (``interval_s=``, ``reconcile_s=``, ``teammates=``, ``scim_delete_mode=``).

    Nothing is asked of Harvest here; the first sync checks the token (and pauses the connection
    with the reason if Harvest refuses it)."""
    if (token is None) == (oauth is None):
        raise ValueError("create_connection needs exactly one of token= or oauth=")
    harvest = HarvestSettings(
        access_token=token or "oauth", account_id=account_id, base_url=base_url, id_url=id_url,
        user_agent=user_agent,
    )
    if token is not None:
        credentials = Credentials("pat", token, user_agent)
    else:
        assert oauth is not None
        credentials = Credentials(
            "oauth", oauth.access_token, user_agent, refresh_token=oauth.refresh_token,
            expires_at=oauth.expires_at, client_id=client_id, client_secret=client_secret,
            scope=oauth.scope,
        )
    resolved = save_connection(store, name, harvest, credentials, label=label)
    config = ConnectionSettingsStore(store).update(resolved.connection.id, now=_now(), **settings)
    return ManagedConnection(resolved.connection, config)


def list_managed(store: Store) -> list[ManagedConnection]:
    configs = ConnectionSettingsStore(store).all()
    return [
        ManagedConnection(c, configs.get(c.id) or ConnectionSettings(c.id)) for c in store.list_connections()
    ]


def configure_connection(store: Store, name: str, **changes: Any) -> ManagedConnection:
    """Change some of a connection's settings (see ``ConnectionSettingsStore.update``)."""
    connection = store.get_connection(name)
    config = ConnectionSettingsStore(store).update(connection.id, now=_now(), **changes)
    return ManagedConnection(connection, config)


def pause_connection(store: Store, name: str, reason: str = "paused by an operator") -> ManagedConnection:
    return configure_connection(store, name, paused=True, paused_reason=reason)


def resume_connection(store: Store, name: str) -> ManagedConnection:
    return configure_connection(store, name, paused=False)


def delete_connection(store: Store, name: str) -> None:
    """Forget the connection, its mirror, settings and schedule (the queue's jobs for it end
    as skipped)."""
    store.remove_connection(name)
