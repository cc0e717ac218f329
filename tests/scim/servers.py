"""The bridge served by uvicorn on 127.0.0.1 in a background thread, over a live sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from harvest_clients import FAST_RETRY, UA
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
            bridge_options["sync"] = RosterSync(store, client, connection, SyncOptions())
            bridge_options["sync_interval"] = sync_interval
        bridge = ScimBridge(
            WriteThrough(client, store, connection), tokens, close_client=True, **bridge_options
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                bridge.app,
                host="127.0.0.1",
                port=port,
                log_config=None,
                log_level="warning",
                access_log=False,
                lifespan="on",
                http="h11",
                loop="asyncio",
            )
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 15
            while not server.started:
                assert thread.is_alive(), "the bridge did not start"
                assert time.monotonic() < deadline, "the bridge did not start within 15 s"
                time.sleep(0.005)
            yield RunningBridge(f"http://127.0.0.1:{port}/scim/v2", secret, running, bridge)
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
