"""The MCP server over streamable HTTP, behind bearer tokens (``McpTokens``).

A request without a valid token gets 401; one from outside the token's networks gets 403. A
read-only token (or a read-only server) is handed to a server that has no write tool at all, so
its sessions cannot see or call one. Plans live in this process (see ``_plans``): one process
serves every request of a session.

Standalone (``thresher mcp --http``), :attr:`McpHttpApp.app` is a Starlette app answering at
``path`` whose lifespan runs the SDK's session managers. Mounted in a bigger app (``thresher
serve`` at ``/mcp``): route ``path`` to :attr:`McpHttpApp.asgi` (an exact-path route, not a
prefix mount, so the SDK sees the path it serves) and enter :meth:`McpHttpApp.lifespan` in the
outer app's lifespan.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from mcp.server.context import ServerMiddleware
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ._context import McpContext
from ._server import build_server
from ._tokens import McpTokens

__all__ = ["McpHttpApp", "http_app"]


async def _refuse(send: Send, status: int, message: str, *, challenge: bool = False) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if challenge:
        headers.append((b"www-authenticate", b'Bearer realm="thresher-mcp"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if kind.lower() == "bearer" and token.strip() else None
    return None


class McpHttpApp:
    """The token gate in front of a full and a read-only server of one connection."""

    def __init__(
        self,
        ctx: McpContext,
        tokens: McpTokens,
        *,
        read_only: bool = False,
        path: str = "/mcp",
        host: str = "127.0.0.1",
        middleware: Sequence[ServerMiddleware[Any]] = (),
    ) -> None:
        self.tokens = tokens
        self.path = path
        self.read_only = read_only
        self._servers: dict[bool, MCPServer[Any]] = {True: build_server(ctx, read_only=True)}
        if not read_only:
            self._servers[False] = build_server(ctx)
        # Observers of every message (``thresher serve`` counts tool calls for /metrics).
        for server in self._servers.values():
            server.middleware.extend(middleware)
        # ``host`` decides the SDK's DNS-rebinding guard: on for a loopback address.
        self._apps: dict[bool, ASGIApp] = {
            ro: server.streamable_http_app(streamable_http_path=path, host=host)
            for ro, server in self._servers.items()
        }
        # Route an ASGI callable object, not the bound method: Starlette would treat a method
        # as a GET-only request handler.
        self.app = Starlette(
            routes=[Route(path, endpoint=_Endpoint(self))], lifespan=lambda _app: self.lifespan()
        )

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Runs the SDK's session managers (one per server) while the app serves."""
        async with contextlib.AsyncExitStack() as stack:
            for server in self._servers.values():
                await stack.enter_async_context(server.session_manager.run())
            yield

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One HTTP request: checked, then handed to the server its token may use."""
        if scope["type"] != "http":  # pragma: no cover - websockets are not routed here
            return
        presented = _bearer(scope)
        token = None if presented is None else self.tokens.authenticate(presented)
        if token is None:
            await _refuse(
                send,
                401,
                "a valid MCP bearer token is required (Authorization: Bearer thmcp_...); "
                "make one with 'thresher mcp token create --name NAME'",
                challenge=True,
            )
            return
        client = scope.get("client")
        if not token.allows(client[0] if client else None):
            await _refuse(send, 403, f"the token {token.name!r} may not be used from this address")
            return
        await self._apps[token.read_only or self.read_only](scope, receive, send)


class _Endpoint:
    def __init__(self, gate: McpHttpApp) -> None:
        self._gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._gate.asgi(scope, receive, send)


def http_app(
    ctx: McpContext,
    tokens: McpTokens,
    *,
    read_only: bool = False,
    path: str = "/mcp",
    host: str = "127.0.0.1",
    middleware: Sequence[ServerMiddleware[Any]] = (),
) -> McpHttpApp:
    """The streamable-HTTP MCP server of ``ctx``'s connection (see :class:`McpHttpApp`);
    ``middleware`` wraps every inbound message of its servers (the SDK's ``ServerMiddleware``)."""
    return McpHttpApp(ctx, tokens, read_only=read_only, path=path, host=host, middleware=middleware)
