"""Clients, connections and sync engines on a sandbox, for the sync and provisioning tests."""

from __future__ import annotations

import datetime as dt

import httpx

from thresher.harvest import AsyncHarvest, HarvestSettings, LimiterRegistry, RetryPolicy
from thresher.sandbox import Sandbox
from thresher.store import Store, StoredConnection
from thresher.sync import RosterSync, SyncOptions

UA = "thresher-tests (tests@example.com)"
FAST_RETRY = RetryPolicy(attempts=6, backoff_base=0.001, backoff_cap=0.01)


def settings_for(sandbox: Sandbox, base_url: str = "http://sandbox.test") -> HarvestSettings:
    creds = sandbox.credentials
    return HarvestSettings(
        access_token=creds.admin_token,
        account_id=creds.account_id,
        user_agent=UA,
        base_url=f"{base_url}/v2",
        id_url=base_url,
        rate_limit=100_000,
        rate_window=1.0,
    )


def client_for(sandbox: Sandbox, *, retry: RetryPolicy = FAST_RETRY) -> AsyncHarvest:
    """A client that talks to the sandbox in-process, with its own limiter registry."""
    return AsyncHarvest(
        settings_for(sandbox),
        transport=httpx.ASGITransport(app=sandbox.app),
        limiter_registry=LimiterRegistry(),
        retry=retry,
    )


def connection_for(store: Store, sandbox: Sandbox, name: str = "sandbox") -> StoredConnection:
    return store.add_connection(
        name,
        account_id=sandbox.credentials.account_id,
        base_url="http://sandbox.test/v2",
        id_url="http://sandbox.test",
    )


def engine(
    store: Store, client: AsyncHarvest, connection: StoredConnection, **options: object
) -> RosterSync:
    defaults: dict[str, object] = {"overlap": dt.timedelta(seconds=60)}
    defaults.update(options)
    return RosterSync(store, client, connection, SyncOptions(**defaults))  # type: ignore[arg-type]


def harvest_view(sandbox_users: list[dict[str, object]]) -> dict[int, dict[str, object]]:
    """Sandbox users keyed by id, restricted to the fields the mirror keeps."""
    return {int(u["id"]): u for u in sandbox_users}  # type: ignore[call-overload]
