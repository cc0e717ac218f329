"""Resolving which store and which Harvest connection a command works on.

Order (design.md contracts): flags, then environment, then stored connections. With the
``HARVEST_*`` variables set they form the default connection, so scripts, CI and containers need no
``thresher login``.
"""

from __future__ import annotations

import os

from thresher._errors import ThresherError
from thresher.harvest import HarvestSettings
from thresher.store import Connection, Store

__all__ = ["ENV_CONNECTION", "open_store", "resolve_connection"]

#: Name under which the connection formed by the HARVEST_* variables is recorded in the store.
ENV_CONNECTION = "env"


def open_store(database_url: str | None) -> Store:
    """The store at ``--database-url``, else ``THRESHER_DATABASE_URL``, else the default file."""
    return Store.open(database_url)


def _env_settings() -> HarvestSettings | None:
    if not (os.environ.get("HARVEST_ACCESS_TOKEN") and os.environ.get("HARVEST_ACCOUNT_ID")):
        return None
    return HarvestSettings.from_env()


def resolve_connection(store: Store, name: str | None) -> tuple[Connection, HarvestSettings]:
    """The connection a command acts on and the settings to reach it."""
    settings = _env_settings()
    if settings is not None and settings.account_id is not None and name in (None, ENV_CONNECTION):
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
        return connection, settings
    raise ThresherError(
        "no Harvest connection is configured"
        + (f" named {name!r}" if name else ""),
        hint=(
            "Set HARVEST_ACCESS_TOKEN, HARVEST_ACCOUNT_ID and HARVEST_USER_AGENT, or try the "
            "embedded sandbox with 'thresher demo'."
        ),
    )
