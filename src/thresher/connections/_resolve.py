"""From a connection name (or the ``HARVEST_*`` environment) to a ready client.

Order (docs/architecture.md, "Configuration"): flags, then environment, then stored connections.
With the ``HARVEST_*`` variables set they form the default connection, so scripts, CI and
containers need no ``thresher login``; a name picks a saved one (``thresher login``) instead.
Saved connections carry their credentials encrypted (``SecretBox``); an OAuth client refreshes
its token when it expires, saves the new one sealed at once, and takes a token another process
saved instead of refreshing again. Refreshes hold the connection's credentials lease
(``_lease.py``), so of several processes whose token expired together exactly one refreshes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable

import httpx

from thresher.harvest import (
    AsyncHarvest,
    ConfigurationError,
    HarvestSettings,
    LimiterRegistry,
    OAuth2Auth,
    OAuth2Token,
    OAuthApp,
    RequestRecord,
    RetryPolicy,
    parse_rate_limit,
)
from thresher.store import DuplicateConnectionError, Store, StoredConnection, StoreError

from ._credentials import Credentials, SecretBox
from ._errors import ConnectionMismatchError, NoConnectionError, UnsupportedProviderError
from ._lease import credentials_lease

__all__ = [
    "ENV_CONNECTION",
    "ResolvedConnection",
    "open_client",
    "resolve",
]

_log = logging.getLogger("thresher.connections")

#: Name under which the connection formed by the HARVEST_* variables is recorded in the store.
ENV_CONNECTION = "env"
#: The settings of a resolved connection of another product: never used to reach anything (no
#: token, no account), only there so ``ResolvedConnection`` keeps one shape.
_NOT_HARVEST = HarvestSettings(user_agent="thresher (https://github.com/thresher)")


def not_harvest(connection: StoredConnection) -> UnsupportedProviderError:
    """What a Harvest-only operation says on a connection of another product."""
    return UnsupportedProviderError(
        f"this command does not exist for Greenhouse connections ({connection.name!r} is a "
        "Greenhouse Recruiting account)",
        hint="On Greenhouse connections: 'thresher sync', 'users list/show', 'changes', "
        "'plan'/'apply' with a Greenhouse roster file, 'scim serve' and 'connections test' "
        "(docs/greenhouse.md §6). Pass --connection to act on a Harvest connection.",
    )


def _env_settings() -> HarvestSettings | None:
    if not (os.environ.get("HARVEST_ACCESS_TOKEN") and os.environ.get("HARVEST_ACCOUNT_ID")):
        return None
    return HarvestSettings.from_env()


@dataclasses.dataclass(frozen=True)
class ResolvedConnection:
    """A connection, the settings to reach it and, for a saved one, its decrypted credentials."""

    connection: StoredConnection
    settings: HarvestSettings
    credentials: Credentials | None = dataclasses.field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.connection.name

    @property
    def own_user_id(self) -> int | None:
        """The token owner's user id when known without a request (saved at login)."""
        return self.credentials.user_id if self.credentials else None


def _from_env(store: Store, settings: HarvestSettings) -> ResolvedConnection:
    assert settings.account_id is not None
    connection = store.get_connection_or_none(ENV_CONNECTION)
    if connection is None:
        try:
            connection = store.add_connection(
                ENV_CONNECTION,
                account_id=settings.account_id,
                base_url=settings.base_url,
                id_url=settings.id_url,
                label="from HARVEST_* environment variables",
            )
        except DuplicateConnectionError:
            # Another process's first command recorded it a moment ago: use that one.
            connection = store.get_connection(ENV_CONNECTION)
    if connection.account_id != settings.account_id:
        # The stored roster (change log, SCIM externalIds, enterprise fields) exists nowhere
        # else: a changed variable must never cost it. Deleting it is `connections remove`'s job.
        raise ConnectionMismatchError(
            f"HARVEST_ACCOUNT_ID is {settings.account_id}, but the stored {ENV_CONNECTION!r} "
            f"connection is of account {connection.account_id}; nothing was changed",
            hint=f"Run 'thresher connections remove {ENV_CONNECTION}' to start over (this deletes "
            "its mirror and change log), or save the other account under a name of its own "
            "with 'thresher login --name NAME' and pass '--connection NAME'.",
        )
    return ResolvedConnection(connection, settings)


def _from_store(store: Store, connection: StoredConnection, *, any_provider: bool) -> ResolvedConnection:
    if connection.provider != "harvest":
        if not any_provider:
            raise not_harvest(connection)
        # A caller that serves both products (users list/show, sync, plan/apply, scim serve)
        # branches on ``connection.provider``; open_client still refuses this one.
        return ResolvedConnection(connection, _NOT_HARVEST)
    if connection.credentials_ref is None:
        raise NoConnectionError(
            f"the connection {connection.name!r} has no saved credentials",
            hint=f"Run 'thresher login --name {connection.name}' or set the HARVEST_* variables.",
        )
    box = SecretBox.from_env()
    credentials = box.open(connection.credentials_ref)
    if box.outdated(connection.credentials_ref):
        connection = _rewrite(store, box, connection, credentials)
    settings = HarvestSettings(
        access_token=credentials.access_token,
        account_id=connection.account_id,
        base_url=connection.base_url,
        id_url=connection.id_url,
        user_agent=os.environ.get("HARVEST_USER_AGENT") or credentials.user_agent,
    )
    return ResolvedConnection(connection, settings, credentials)


def _rewrite(
    store: Store, box: SecretBox, connection: StoredConnection, credentials: Credentials
) -> StoredConnection:
    """Save credentials read from an outdated blob again in the current format (a salted key).

    Under the credentials lease, and only if the blob is still the one read: a token another
    process refreshed meanwhile must not be overwritten by this older copy. Best effort: a
    read-only store, or a lease held elsewhere, leaves it for a later run."""
    try:
        with credentials_lease(store, connection.id, wait=False) as lease:
            if lease is None:
                return connection
            if store.get_connection(connection.name).credentials_ref != connection.credentials_ref:
                # Saved meanwhile: keep the version read, so the client sees the newer token.
                return connection
            return store.update_connection(connection.name, credentials_ref=box.seal(credentials))
    except StoreError as exc:
        _log.info("credentials of %r left in the old format: %s", connection.name, exc)
        return connection


def resolve(store: Store, name: str | None = None, *, any_provider: bool = False) -> ResolvedConnection:
    """The connection to act on: ``name``, else the ``HARVEST_*`` environment, else the saved
    default. Raises ``NoConnectionError`` (with the fix in its hint) when there is none.

    A Greenhouse connection raises ``UnsupportedProviderError`` (exit 2: the operation does not
    exist for it) unless ``any_provider``: then its ``settings`` reach nothing, and the caller
    branches on ``connection.provider`` (docs/greenhouse.md §6)."""
    settings = _env_settings()
    if settings is not None and settings.account_id is not None and name in (None, ENV_CONNECTION):
        return _from_env(store, settings)
    if name == ENV_CONNECTION or (name is None and not store.list_connections()):
        raise NoConnectionError(
            "no Harvest connection is configured" + (f" named {name!r}" if name else ""),
            hint=(
                "Run 'thresher login', or set HARVEST_ACCESS_TOKEN, HARVEST_ACCOUNT_ID and "
                "HARVEST_USER_AGENT, or try the embedded sandbox with 'thresher demo'."
            ),
        )
    connection = store.get_connection(name)
    if connection.name == ENV_CONNECTION:
        raise NoConnectionError(
            "the 'env' connection needs the HARVEST_* environment variables",
            hint="Set HARVEST_ACCESS_TOKEN, HARVEST_ACCOUNT_ID and HARVEST_USER_AGENT, or run "
            "'thresher login' to save a connection of its own.",
        )
    return _from_store(store, connection, any_provider=any_provider)


def _oauth_auth(store: Store, resolved: ResolvedConnection, creds: Credentials) -> OAuth2Auth:
    assert creds.client_id is not None
    assert creds.client_secret is not None
    app = OAuthApp(
        creds.client_id, creds.client_secret, resolved.settings.id_url, resolved.settings.user_agent
    )
    name = resolved.connection.name
    connection_id = resolved.connection.id
    # The credentials_version of the token this process refreshed last (or loaded): a stored
    # version other than this one means another process saved a token since.
    known_version = [resolved.connection.credentials_version]

    def stored() -> Credentials | None:
        connection = store.get_connection_or_none(name)
        if connection is None or connection.credentials_ref is None:
            return None
        return SecretBox.from_env().open(connection.credentials_ref)

    def save(token: OAuth2Token) -> None:
        # Called under the credentials lease (refresh_lock): nobody else writes meanwhile.
        latest = stored() or creds
        saved = store.update_connection(
            name, credentials_ref=SecretBox.from_env().seal(latest.with_token(token))
        )
        known_version[0] = saved.credentials_version

    def latest() -> OAuth2Token | None:
        connection = store.get_connection_or_none(name)
        if (
            connection is None
            or connection.credentials_ref is None
            or connection.credentials_version == known_version[0]
        ):
            return None  # nothing saved since this process's own token: nothing to decrypt
        found = SecretBox.from_env().open(connection.credentials_ref)
        return found.oauth_token if found.kind == "oauth" else None

    return OAuth2Auth(
        creds.oauth_token, app, on_refresh=save, latest=latest,
        refresh_lock=lambda: credentials_lease(store, connection_id),
    )


def open_client(
    store: Store,
    connection: str | ResolvedConnection | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter_registry: LimiterRegistry | None = None,
    retry: RetryPolicy | None = None,
    on_request: Callable[[RequestRecord], None] | None = None,
    shared_budget: bool = True,
) -> AsyncHarvest:
    """A client for ``connection`` (a name, a ``resolve()`` result, or ``None`` for the default).

    The one way every command, the sync, the SCIM bridge and embedders reach Harvest: OAuth
    connections refresh an expired token, save the new one sealed, and pick up a token another
    process saved. ``transport`` is the test seam (``httpx.ASGITransport`` over the sandbox).

    Every client opened here draws from the account's rate budget in ``store``, shared with every
    other process on the store (``Store.rate_budget``), at the limit ``HARVEST_RATE_LIMIT`` sets
    (default Harvest's 100/15s). ``shared_budget=False`` or ``THRESHER_SHARED_BUDGET=off`` leave
    the client to its in-process limiter alone."""
    resolved = connection if isinstance(connection, ResolvedConnection) else resolve(store, connection)
    if resolved.connection.provider != "harvest":
        raise not_harvest(resolved.connection)
    creds = resolved.credentials
    auth: httpx.Auth | None = None
    if creds is not None and creds.kind == "oauth" and creds.client_id and creds.client_secret:
        auth = _oauth_auth(store, resolved, creds)
    settings = resolved.settings
    rate = os.environ.get(RATE_LIMIT_ENV, "").strip()
    if rate:  # saved connections too, not only the HARVEST_* environment
        limit, window = parse_rate_limit(rate)
        settings = settings.replace(rate_limit=limit, rate_window=window)
    budget = None
    if shared_budget and _shared_budget_enabled():
        budget = store.rate_budget(
            f"{settings.base_url} account {settings.account_id}",
            limit=settings.rate_limit, window=settings.window,
        )
    return AsyncHarvest(
        settings,
        transport=transport,
        limiter_registry=limiter_registry,
        retry=retry,
        auth=auth,
        on_request=on_request,
        shared_budget=budget,
    )


#: ``off`` turns the store-backed rate budget shared between processes off (``open_client``).
SHARED_BUDGET_ENV = "THRESHER_SHARED_BUDGET"
#: The general rate limit as REQUESTS/WINDOW, e.g. ``100/1.5s`` for a time-scaled sandbox.
RATE_LIMIT_ENV = "HARVEST_RATE_LIMIT"

def _shared_budget_enabled() -> bool:
    value = os.environ.get(SHARED_BUDGET_ENV, "").strip().lower()
    if value in ("", "on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise ConfigurationError(
        f"{SHARED_BUDGET_ENV} {value!r} is neither on nor off",
        hint=f"Set {SHARED_BUDGET_ENV}=off for a client that paces itself alone, or unset it.",
    )
