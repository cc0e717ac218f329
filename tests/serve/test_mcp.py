"""The MCP server at ``/mcp`` of a ``thresher serve`` subprocess, through the SDK's client."""

from __future__ import annotations

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_server.conftest import result_json
from thresher.mcp import READ_TOOLS, WRITE_TOOLS, McpTokens
from thresher.store import ServeRecords, Store

from .conftest import ServeSetup, start_serve, wait_for
from .test_process import _metric


async def test_mcp_is_served_at_mcp_behind_its_own_tokens(setup: ServeSetup) -> None:
    with Store.open(setup.database_url) as store:
        _, agent = McpTokens(store).create("agent")
    serve = start_serve(setup.env, "--sync-interval", "1")
    try:
        with serve.client() as anon:
            wait_for(lambda: anon.get("/readyz").status_code == 200, what="/readyz 200")
            hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            accept = {"Accept": "application/json, text/event-stream"}
            assert anon.post("/mcp", json=hello, headers=accept).status_code == 401
            # Tokens of other scopes open nothing here.
            for other in (setup.scim_token, setup.api_token):
                auth = {**accept, "Authorization": f"Bearer {other}"}
                refused = anon.post("/mcp", json=hello, headers=auth)
                assert refused.status_code == 401

            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {agent}"}, timeout=60) as http,
                Client(streamable_http_client(f"{serve.url}/mcp", http_client=http)) as client,
            ):
                names = {t.name for t in (await client.list_tools()).tools}
                found = result_json(await client.call_tool("find_users", {"limit": 2}))
                failed = await client.call_tool("get_user", {"user": "nobody@example.com"})
                unknown = await client.call_tool("no_such_tool", {})
            assert names == set(READ_TOOLS + WRITE_TOOLS)
            assert len(found["users"]) == 2
            assert failed.is_error
            assert unknown.is_error

            text = anon.get("/metrics").text
            assert _metric(text, "thresher_mcp_tool_calls_total", tool="find_users", outcome="ok") == 1
            assert _metric(text, "thresher_mcp_tool_calls_total", tool="get_user", outcome="error") == 1
            # A name the server lacks is one bucket: a client cannot grow the label set.
            assert _metric(text, "thresher_mcp_tool_calls_total", tool="(unknown)", outcome="error") == 1
            assert _metric(text, "thresher_http_requests_total", area="mcp", status="401") >= 3
            status = anon.get("/api/v1/status", headers={"Authorization": f"Bearer {setup.api_token}"}).json()
            assert "mcp" in status["components"]
    finally:
        code = serve.terminate()
    assert code == 0, serve.output
    assert "Traceback" not in serve.output
    assert agent not in serve.output
    # The dashboard's usage page counts MCP requests per token (flushed at shutdown at the latest).
    with Store.open(setup.database_url) as store:
        usage = ServeRecords(store).usage(since_day="2000-01-01")
    mcp = {(subject, status): n for (_, channel, subject, status), n in usage.items() if channel == "mcp"}
    assert mcp[("agent", 200)] >= 3  # initialize, tools/list, the calls
    assert mcp[("(none)", 401)] == 3  # no token, a SCIM and an admin token: none is an MCP token
    assert sum(n for (subject, _), n in mcp.items() if subject not in ("agent", "(none)")) == 0
