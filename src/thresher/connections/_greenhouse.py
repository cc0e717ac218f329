"""Greenhouse Recruiting connections: saving one, and from a saved one to an ``AsyncGreenhouse``.

A Greenhouse connection is a row of ``connections`` with ``provider = 'greenhouse'``
(docs/greenhouse.md §6): ``client_id`` and ``sub`` in plain columns, ``base_url`` the API and
``id_url`` the token endpoint, and the client secret sealed by ``SecretBox`` in
``credentials_ref`` together with the last minted token, so a command started within the token's
hour spends no request minting another. The Harvest path (``_resolve.open_client``) is not
involved: it refuses a Greenhouse connection with ``UnsupportedProviderError``.

Rate limits: Greenhouse counts requests per credential, whatever process sends them. Every
client opened here draws from the credential's budget in the store (``Store.rate_budget``, the
table Harvest's accounts use, keyed by API and client id), shared with every other process on
the store, at ``GREENHOUSE_RATE_LIMIT`` (default the docs' 75 per 30 s); inside one process the
clients of a credential also share one ``RateLimiter``, which follows the ``X-RateLimit-*``
headers (docs/greenhouse.md §3).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx

from thresher.greenhouse import (
    AccessToken,
    AsyncGreenhouse,
    GreenhouseSettings,
    RateLimiter,
    RequestRecord,
    SharedBudget,
    User,
)
from thresher.store import Store, StoredConnection, StoreError

from ._credentials import SecretBox
from ._errors import NoConnectionError, UnsupportedProviderError
from ._resolve import _shared_budget_enabled as shared_budget_enabled

__all__ = [
    "GREENHOUSE",
    "GreenhouseCredentials",
    "ResolvedGreenhouse",
    "check_greenhouse",
    "greenhouse_budget",
    "open_greenhouse",
    "resolve_greenhouse",
    "save_greenhouse_connection",
]

_log = logging.getLogger("thresher.connections")

#: ``connections.provider`` of a Greenhouse Recruiting account.
GREENHOUSE = "greenhouse"
#: ``connections.account_id`` of a Greenhouse connection: Greenhouse's API names no account.
NO_ACCOUNT = 0
_KIND = "greenhouse-client-credentials"


@dataclasses.dataclass(frozen=True)
class GreenhouseCredentials:
    """What is sealed for a Greenhouse connection: the client secret, and the last token minted
    (with the ``sub`` it acts as, so a changed ``sub`` never reuses it)."""

    client_secret: str = dataclasses.field(repr=False)
    access_token: str | None = dataclasses.field(default=None, repr=False)
    expires_at: dt.datetime | None = None
    token_sub: str | None = None

    def __repr__(self) -> str:
        return (
            f"GreenhouseCredentials(client_secret='***', access_token="
            f"{'None' if self.access_token is None else repr('***')}, expires_at={self.expires_at!r})"
        )

    __str__ = __repr__

    def token(self, sub: str | None) -> AccessToken | None:
        if self.access_token is None or self.expires_at is None or self.token_sub != sub:
            return None
        return AccessToken(self.access_token, self.expires_at, sub)

    def with_token(self, token: AccessToken) -> GreenhouseCredentials:
        return dataclasses.replace(
            self, access_token=token.value, expires_at=token.expires_at, token_sub=token.sub
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": _KIND,
                "client_secret": self.client_secret,
                "access_token": self.access_token,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "token_sub": self.token_sub,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> GreenhouseCredentials:
        data: dict[str, Any] = json.loads(text)
        if data.get("kind") != _KIND or not isinstance(data.get("client_secret"), str):
            raise NoConnectionError(
                "the saved credentials are not a Greenhouse credential",
                hint="Run 'thresher login --provider greenhouse' again for this connection.",
            )
        expires = data.get("expires_at")
        return cls(
            client_secret=data["client_secret"],
            access_token=data.get("access_token"),
            expires_at=dt.datetime.fromisoformat(expires) if expires else None,
            token_sub=data.get("token_sub"),
        )


@dataclasses.dataclass(frozen=True)
class ResolvedGreenhouse:
    """A saved Greenhouse connection, the settings to reach it and its decrypted credentials."""

    connection: StoredConnection
    settings: GreenhouseSettings
    credentials: GreenhouseCredentials = dataclasses.field(repr=False)

    @property
    def name(self) -> str:
        return self.connection.name


def not_greenhouse(connection: StoredConnection) -> UnsupportedProviderError:
    return UnsupportedProviderError(
        f"the connection {connection.name!r} is a Harvest connection, not a Greenhouse one",
        hint="Pass --connection with a connection saved by 'thresher login --provider greenhouse' "
        "('thresher connections list' shows each connection's provider).",
    )


def resolve_greenhouse(store: Store, connection: str | StoredConnection | None = None) -> ResolvedGreenhouse:
    """The saved Greenhouse connection ``connection`` (a name, a row, or None: the default)."""
    found = connection if isinstance(connection, StoredConnection) else store.get_connection(connection)
    if found.provider != GREENHOUSE:
        raise not_greenhouse(found)
    if found.credentials_ref is None or found.client_id is None:
        raise NoConnectionError(
            f"the Greenhouse connection {found.name!r} has no saved credentials",
            hint=f"Run 'thresher login --provider greenhouse --name {found.name}' again.",
        )
    credentials = GreenhouseCredentials.from_json(SecretBox.from_env().open_text(found.credentials_ref))
    settings = GreenhouseSettings.from_env(
        client_id=found.client_id,
        client_secret=credentials.client_secret,
        sub=found.sub,
        base_url=found.base_url,
        token_url=found.id_url,
    )
    if found.sub is None and settings.sub is not None:
        # GREENHOUSE_SUB must not silently change whom a saved connection acts as.
        settings = dataclasses.replace(settings, sub=None)
    return ResolvedGreenhouse(found, settings, credentials)


_limiters: dict[tuple[str, str], RateLimiter] = {}
_limiters_lock = threading.Lock()


def _limiter(settings: GreenhouseSettings) -> RateLimiter:
    """One limiter per credential per process: Greenhouse counts requests per credential
    (docs/greenhouse.md §5), so every client of one credential draws from one window."""
    key = (settings.token_url, settings.client_id or "")
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(settings.rate_limit, settings.rate_window)
        return limiter


def greenhouse_budget(store: Store, settings: GreenhouseSettings) -> SharedBudget:
    """The rate budget every process on ``store`` shares for the credential of ``settings``:
    ``rate_limit`` requests per ``rate_window``. A sliding window of that size never puts more
    in one of Greenhouse's fixed windows, so the shared table of Harvest's accounts serves as it
    is (no Greenhouse table); the key names the API and the client id, so a sandbox and the
    real Greenhouse, or two credentials, never share one."""
    return store.rate_budget(
        f"greenhouse {settings.base_url} client {settings.client_id or '-'}",
        limit=settings.rate_limit,
        window=settings.rate_window,
    )


def open_greenhouse(
    store: Store,
    connection: str | StoredConnection | ResolvedGreenhouse | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_request: Callable[[RequestRecord], None] | None = None,
    limiter: RateLimiter | None = None,
    shared_budget: bool = True,
) -> AsyncGreenhouse:
    """An ``AsyncGreenhouse`` for a saved Greenhouse connection. It starts from the token saved
    last (if its hour is not over) and saves each token it mints, sealed, best effort.

    It draws from the credential's rate budget in ``store`` (``greenhouse_budget``), shared with
    every other process on the store; ``shared_budget=False`` or ``THRESHER_SHARED_BUDGET=off``
    leave it to the in-process limiter alone. ``limiter`` replaces the process's limiter of the
    credential (an embedder isolating clients; tests standing in for two processes)."""
    resolved = (
        connection if isinstance(connection, ResolvedGreenhouse) else resolve_greenhouse(store, connection)
    )
    name = resolved.connection.name
    box = SecretBox.from_env()
    latest = [resolved.credentials]

    def save(token: AccessToken) -> None:
        latest[0] = latest[0].with_token(token)
        try:
            store.update_connection(name, credentials_ref=box.seal_text(latest[0].to_json()))
        except StoreError as exc:  # a read-only store: the token is still used, just not kept
            _log.info("the new Greenhouse token of %r was not saved: %s", name, exc)

    return AsyncGreenhouse(
        resolved.settings,
        transport=transport,
        limiter=limiter or _limiter(resolved.settings),
        shared_budget=(
            greenhouse_budget(store, resolved.settings) if shared_budget and shared_budget_enabled() else None
        ),
        token=resolved.credentials.token(resolved.settings.sub),
        on_token=save,
        on_request=on_request,
    )


async def check_greenhouse(
    settings: GreenhouseSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[AccessToken | None, list[User]]:
    """Mint a token and list one user: proves the credential, its list scope and that ``sub`` is
    a Site Admin (docs/greenhouse.md §6). Returns the token minted (to save) and that page."""
    minted: list[AccessToken] = []
    async with AsyncGreenhouse(settings, transport=transport, on_token=minted.append) as client:
        page = await anext(client.user_pages(per_page=1))
    return (minted[-1] if minted else None), list(page.items)


def save_greenhouse_connection(
    store: Store,
    name: str,
    settings: GreenhouseSettings,
    *,
    token: AccessToken | None = None,
    label: str | None = None,
    make_default: bool = False,
    box: SecretBox | None = None,
) -> ResolvedGreenhouse:
    """Record ``name`` as a Greenhouse connection of ``settings`` (client credentials), adding it
    or updating a Greenhouse connection of that name; the secret (and ``token``) sealed."""
    if not (settings.client_id and settings.client_secret):
        raise ValueError("save_greenhouse_connection needs settings with client credentials")
    credentials = GreenhouseCredentials(settings.client_secret)
    if token is not None:
        credentials = credentials.with_token(token)
    blob = (box or SecretBox.from_env()).seal_text(credentials.to_json())
    existing = store.get_connection_or_none(name)
    if existing is None:
        connection = store.add_connection(
            name,
            NO_ACCOUNT,
            label=label,
            base_url=settings.base_url,
            id_url=settings.token_url,
            credentials_ref=blob,
            is_default=make_default,
            provider=GREENHOUSE,
            client_id=settings.client_id,
            sub=settings.sub,
        )
    else:
        if existing.provider != GREENHOUSE:
            raise UnsupportedProviderError(
                f"a Harvest connection named {name!r} already exists; nothing was changed",
                hint="Pick another --name for the Greenhouse connection: a connection's mirror "
                "belongs to one product.",
            )
        connection = store.update_connection(
            name,
            label=label,
            base_url=settings.base_url,
            id_url=settings.token_url,
            credentials_ref=blob,
            client_id=settings.client_id,
            sub=settings.sub,
        )
        if make_default:
            connection = store.set_default_connection(name)
    return ResolvedGreenhouse(connection, settings, credentials)
