"""MCP server: lets AI agents run the Harvest user lifecycle through thresher, safely.

Built on the official ``mcp`` SDK. Reads are answered from the roster mirror (kept fresh by
incremental syncs, and saying how fresh); writes are two steps, a ``plan_*`` tool that changes
nothing and ``apply_plan(confirmation_id)``, which goes through ``thresher.provision``'s
write-through paths and is refused if Harvest changed in between. Over stdio for desktop clients
(``thresher mcp``), over streamable HTTP for hosted agents (``thresher mcp --http``, or mounted by
``thresher serve`` from :func:`http_app`), with bearer tokens of their own scope (:class:`McpTokens`).

    ctx = McpContext(store, connection, client, MirrorFreshness(store, connection, sync))
    server = build_server(ctx, read_only=False)      # an mcp.server.mcpserver.MCPServer
    async with mcp.Client(server) as agent: ...      # in process, as the tests do
"""

from ._clients import client_configs, render_configs
from ._context import McpContext
from ._errors import McpError, PlanNotFoundError, ReadOnlyError
from ._fresh import MirrorFreshness
from ._http import McpHttpApp, http_app
from ._plans import PendingPlan, PlanBook
from ._run import open_context, serve_http, serve_stdio
from ._server import READ_TOOLS, WRITE_TOOLS, build_server
from ._tokens import MCP_TOKEN_PREFIX, McpToken, McpTokenError, McpTokens

__all__ = [
    "MCP_TOKEN_PREFIX",
    "READ_TOOLS",
    "WRITE_TOOLS",
    "McpContext",
    "McpError",
    "McpHttpApp",
    "McpToken",
    "McpTokenError",
    "McpTokens",
    "MirrorFreshness",
    "PendingPlan",
    "PlanBook",
    "PlanNotFoundError",
    "ReadOnlyError",
    "build_server",
    "client_configs",
    "http_app",
    "open_context",
    "render_configs",
    "serve_http",
    "serve_stdio",
]

# Tracebacks name the public path (``thresher.mcp.SomeError``), never the private module an
# exception happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
