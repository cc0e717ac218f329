"""Running the server for a connection of the store: the context it needs, then stdio or HTTP.

The client comes from ``thresher.connections.open_client``, so every Harvest request (syncs,
hours, writes) draws from the account's shared rate budget, with every other thresher process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator

from thresher.connections import open_client, resolve
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions

from ._context import McpContext
from ._fresh import MirrorFreshness
from ._http import http_app
from ._server import build_server
from ._tokens import McpTokens

__all__ = ["open_context", "serve_http", "serve_stdio"]


@contextlib.asynccontextmanager
async def open_context(
    store: Store, connection: str | None = None, *, max_age: dt.timedelta = dt.timedelta(minutes=5)
) -> AsyncIterator[McpContext]:
    """The context of the named connection (None: ``HARVEST_*`` or the default), its client
    closed on exit. The mirror is synced by the tools when older than ``max_age``."""
    resolved = resolve(store, connection)
    async with open_client(store, resolved) as client:
        sync = RosterSync(store, client, resolved.connection, SyncOptions())
        yield McpContext(
            store,
            resolved.connection,
            client,
            MirrorFreshness(store, resolved.connection, sync, max_age=max_age),
        )


async def serve_stdio(
    store: Store,
    connection: str | None = None,
    *,
    read_only: bool = False,
    max_age: dt.timedelta = dt.timedelta(minutes=5),
) -> None:
    """Serve over this process's stdin and stdout until the client closes them."""
    async with open_context(store, connection, max_age=max_age) as ctx:
        await build_server(ctx, read_only=read_only).run_stdio_async()


async def serve_http(
    store: Store,
    sock: socket.socket,
    connection: str | None = None,
    *,
    read_only: bool = False,
    max_age: dt.timedelta = dt.timedelta(minutes=5),
    host: str = "127.0.0.1",
) -> None:
    """Serve streamable HTTP at ``/mcp`` on the bound ``sock`` until interrupted."""
    import uvicorn  # noqa: PLC0415 - only HTTP serving needs it

    async with open_context(store, connection, max_age=max_age) as ctx:
        app = http_app(ctx, McpTokens(store), read_only=read_only, host=host)
        config = uvicorn.Config(app.app, log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve(sockets=[sock])
