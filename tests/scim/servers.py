"""The bridge served by uvicorn on 127.0.0.1 in a background thread, over a live sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from harvest_clients import FAST_RETRY, UA
from thresher._serving import serve_in_thread
from thresher.harvest import AsyncHarvest, HarvestSettings, LimiterRegistry
from thresher.provision import WriteThrough
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.scim import ScimBridge, TokenStore
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions


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
