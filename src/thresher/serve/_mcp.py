"""The MCP server at ``/mcp``: ``thresher.mcp.http_app`` for one connection, behind MCP tokens.

The server is the one ``thresher mcp --http`` runs (docs/serve.md, README's MCP section): the
same tools, the same ``thmcp_`` bearer tokens (their own scope, so a SCIM or admin token never
opens it), refused with 401 without one. It is routed at ``/mcp`` as an exact path (the SDK
serves the path it was built for; a prefix mount would hand it ``/``) and its session managers run
in the service's lifespan. Its Harvest client draws from the account's shared rate budget and
counts in ``/metrics`` like every other; each tool call counts in ``thresher_mcp_tool_calls``
by tool and outcome (an SDK middleware, so a refused or failing call counts as ``error``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from starlette.types import ASGIApp

from thresher.connections import ResolvedConnection, open_client
from thresher.harvest import RequestRecord
from thresher.mcp import READ_TOOLS, WRITE_TOOLS, McpContext, McpTokens, MirrorFreshness, http_app
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions

from ._components import Component
from ._metrics import Metrics

__all__ = ["PATH", "mcp_component"]

PATH = "/mcp"


class _ToolCalls:
    """SDK middleware: one count per ``tools/call`` by tool name and outcome."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.names = frozenset(READ_TOOLS + WRITE_TOOLS)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        raw = (ctx.params or {}).get("name")
        # Only names the server has are labels; anything else an agent sends is one bucket, so a
        # client cannot grow the metric without bound.
        name = raw if isinstance(raw, str) and raw in self.names else "(unknown)"
        outcome = "error"
        try:
            result = await call_next(ctx)
            is_error = (
                result.get("isError") if isinstance(result, dict) else getattr(result, "is_error", False)
            )
            outcome = "error" if is_error else "ok"
            return result
        finally:
            self.metrics.mcp_tool_calls.labels(name, outcome).inc()


def mcp_component(
    store: Store,
    resolved: ResolvedConnection,
    metrics: Metrics,
    on_request: Callable[[RequestRecord], None],
    *,
    max_age: float,
    read_only: bool,
    host: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[Component, ASGIApp]:
    """The MCP server of ``resolved``'s connection, and the app to route at ``/mcp`` (an exact
    path: the app answers at PATH itself).

    ``max_age``: reads sync first when the mirror is older (the scheduler normally keeps it
    fresher); ``on_request`` sees every Harvest request of its client.
    """
    connection = resolved.connection
    client = open_client(store, resolved, transport=transport, on_request=on_request)
    sync = RosterSync(store, client, connection, SyncOptions())
    ctx = McpContext(
        store, connection, client,
        MirrorFreshness(store, connection, sync, max_age=dt.timedelta(seconds=max_age)),
    )
    gate = http_app(ctx, McpTokens(store), read_only=read_only, path=PATH, host=host,
                    middleware=[_ToolCalls(metrics)])

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        try:
            async with gate.lifespan():
                yield
        finally:
            await client.aclose()

    # ``gate.app``'s own lifespan is not run (Starlette runs none for a routed app), the
    # component's is.
    return Component("mcp", lifespan=lifespan), gate.app
