"""The bridge served by uvicorn on 127.0.0.1 in a background thread, over a live sandbox (Harvest's,
or Greenhouse's for ``serve_provider_bridge``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from scim2_models import ScimProvider

from harvest_clients import FAST_RETRY, UA
from thresher._serving import serve_in_thread
from thresher.connections import open_greenhouse, save_greenhouse_connection
from thresher.greenhouse import GreenhouseSettings
from thresher.greenhouse_sandbox import GreenhouseSandbox, GreenhouseSandboxConfig, run_greenhouse_sandbox
from thresher.harvest import AsyncHarvest, HarvestSettings, LimiterRegistry
from thresher.provision import WriteThrough
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.scim import GreenhouseScimBridge, ScimBridge, TokenStore
from thresher.store import Store
from thresher.sync import GreenhouseSync, RosterSync, SyncOptions


@dataclasses.dataclass(frozen=True)
class RunningBridge:
    base_url: str
    token: str
    sandbox: RunningSandbox
    bridge: ScimBridge


def _client(running: RunningSandbox) -> AsyncHarvest:
    creds = running.sandbox.credentials
    settings = HarvestSettings(
        access_token=creds.admin_token,
        account_id=creds.account_id,
        user_agent=UA,
        base_url=running.api_url,
        id_url=running.base_url,
        rate_limit=100_000,
        rate_window=1.0,
    )
    return AsyncHarvest(settings, limiter_registry=LimiterRegistry(), retry=FAST_RETRY)


@contextlib.contextmanager
def serve_bridge(
    store: Store, config: SandboxConfig, *, sync_interval: float | None = None, **bridge_options: Any
) -> Iterator[RunningBridge]:
    """``sync_interval``: keep the mirror fresh with incremental syncs while serving."""
    with run_sandbox(Sandbox(config)) as running:
        connection = store.add_connection(
            "sandbox",
            account_id=running.sandbox.credentials.account_id,
            base_url=running.api_url,
            id_url=running.base_url,
        )

        async def first_sync() -> None:
            async with _client(running) as client:
                await RosterSync(store, client, connection, SyncOptions()).run(full=True)

        asyncio.run(first_sync())
        tokens = TokenStore(store)
        _, secret = tokens.create("tests")
        client = _client(running)
        if sync_interval is not None:
            bridge_options["sync_client"] = lambda: _client(running)
            bridge_options["sync_interval"] = sync_interval
        bridge = ScimBridge(
            WriteThrough(client, store, connection), tokens, close_client=True, **bridge_options
        )
        with serve_in_thread(bridge.app, name="thresher-scim") as port:
            yield RunningBridge(f"http://127.0.0.1:{port}/scim/v2", secret, running, bridge)


@dataclasses.dataclass(frozen=True)
class RunningProviderBridge:
    """A bridge on 127.0.0.1 over either provider's sandbox (itself on 127.0.0.1)."""

    provider: str
    base_url: str
    token: str
    scim_provider: ScimProvider


@contextlib.contextmanager
def serve_provider_bridge(
    store: Store, provider: str, *, users: int = 3, seed: int = 5
) -> Iterator[RunningProviderBridge]:
    """``serve_bridge`` for ``provider`` (``harvest`` or ``greenhouse``, tests/providers.py):
    the SCIM provider description is the bridge's own (for Harvest, with scim2-tester's example
    fix of ``test_scim2_tester.CheckerHarvestUser`` given by the caller when wanted)."""
    if provider == "harvest":
        with serve_bridge(store, SandboxConfig(users=users, seed=seed, rate_limit=None)) as running:
            yield RunningProviderBridge(provider, running.base_url, running.token, running.bridge.provider)
        return
    sandbox = GreenhouseSandbox(GreenhouseSandboxConfig(users=users, seed=seed, rate_limit=None))
    with run_greenhouse_sandbox(sandbox) as gh:
        cred = sandbox.credential("full")
        settings = GreenhouseSettings(
            client_id=cred.client_id,
            client_secret=cred.client_secret,
            sub=str(sandbox.state.admin_id),
            base_url=gh.api_url,
            token_url=gh.token_url,
            rate_limit=10_000,
            rate_window=1.0,
        )
        connection = save_greenhouse_connection(store, "gh", settings, make_default=True).connection

        async def first_sync() -> None:
            async with open_greenhouse(store, connection) as client:
                await GreenhouseSync(store, client, connection, SyncOptions()).run(full=True)

        asyncio.run(first_sync())
        tokens = TokenStore(store)
        _, secret = tokens.create("tests")
        bridge = GreenhouseScimBridge(
            open_greenhouse(store, connection), store, connection, tokens, close_client=True
        )
        with serve_in_thread(bridge.app, name="thresher-gh-scim") as port:
            yield RunningProviderBridge(provider, f"http://127.0.0.1:{port}/scim/v2", secret, bridge.provider)
