"""``thresher mcp`` as clients run it: a real stdio subprocess, and streamable HTTP behind bearer
tokens, both on a store synced from a sandbox served over real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from mcp_server.conftest import result_json, text_of
from provision.conftest import Cli, cli, sandbox_for_cli
from thresher.mcp import READ_TOOLS, WRITE_TOOLS

__all__ = ["cli", "sandbox_for_cli"]

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env(cli: Cli) -> dict[str, str]:
    return {**os.environ, **cli.env, "PYTHONPATH": SRC}


@pytest.fixture
def synced(cli: Cli) -> Cli:
    """The CLI's store, synced from the sandbox over real HTTP by ``thresher sync``."""
    cli("sync")
    return cli


async def test_stdio_subprocess_reads_and_writes(synced: Cli) -> None:
    cli = synced
    member = next(
        u
        for u in sorted(cli.sandbox.state.users.values(), key=lambda u: u.id)
        if u.is_active and u.access_roles == ["member"] and cli.sandbox.state.has_time_or_expenses(u.id)
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "thresher", "mcp"], env=_env(cli))
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        found = result_json(await client.call_tool("find_users", {"email": member.email}))
        plan = result_json(await client.call_tool("plan_offboard", {"user": member.email, "delete": True}))
        applied = result_json(
            await client.call_tool("apply_plan", {"confirmation_id": plan["confirmation_id"]})
        )
    assert names == {*READ_TOOLS, *WRITE_TOOLS}
    assert [u["id"] for u in found["users"]] == [member.id]
    assert found["mirror"]["synced_now"] is False, "the store was synced just before"
    assert applied["offboard"]["outcome"] == "archived"
    assert "kept" in applied["why"]
    assert cli.sandbox.state.users[member.id].is_active is False
    events = cli.store().list_events(source="mcp")
    assert (member.id, "archived") in [(e.harvest_id, e.kind) for e in events]


async def test_stdio_read_only_lists_read_tools_only(cli: Cli) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "thresher", "mcp", "--read-only"], env=_env(cli)
    )
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        # The store was never synced: the first read syncs it, and says so.
        summary = result_json(await client.call_tool("roster_summary", {}))
        refused = await client.call_tool("apply_plan", {"confirmation_id": "plan_x"})
    assert names == set(READ_TOOLS)
    assert summary["mirror"]["synced_now"] is True
    assert summary["by_status"]["active"] == sum(u.is_active for u in cli.sandbox.state.users.values())
    assert refused.is_error
    assert "apply_plan" in text_of(refused)


@pytest.fixture
def http_server(cli: Cli) -> Iterator[str]:
    """``thresher mcp --http --port 0`` in a subprocess; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "thresher", "mcp", "--http", "--port", "0"],
        env=_env(cli),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    drain: threading.Thread | None = None
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:  # the port is printed once the socket is bound
            if "/mcp" in line and "http://" in line:
                url = line[line.index("http://") :].strip()
                break
        assert url, "the server did not start"
        # Keep reading its stderr, so the server never blocks on a full pipe.
        drain = threading.Thread(target=process.stderr.read, daemon=True)
        drain.start()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        if drain is not None:
            drain.join(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def _token(cli: Cli, name: str, *extra: str) -> str:
    made = json.loads(cli("mcp", "token", "create", "--name", name, *extra, "--json").stdout)
    token: str = made["token"]
    assert token.startswith("thmcp_")
    return token


@contextlib.asynccontextmanager
async def _client(url: str, token: str) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP with ``token`` (its HTTP client closed after)."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def test_http_needs_a_token_and_honours_its_scope(synced: Cli, http_server: str) -> None:
    cli = synced
    writer = _token(cli, "agent")
    reader = _token(cli, "reader", "--read-only")
    elsewhere = _token(cli, "elsewhere", "--allow-cidr", "10.0.0.0/8")
    scim = json.loads(cli("scim", "token", "create", "--name", "idp", "--json").stdout)["token"]
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=30) as http:
        anonymous = await http.post(http_server, json=body, headers=headers)
        wrong = await http.post(
            http_server, json=body, headers={**headers, "Authorization": f"Bearer {scim}"}
        )
        outside = await http.post(
            http_server, json=body, headers={**headers, "Authorization": f"Bearer {elsewhere}"}
        )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert "thresher mcp token create" in anonymous.json()["error"]
    assert wrong.status_code == 401, "a SCIM token does not open the MCP server"
    assert outside.status_code == 403
    async with _client(http_server, writer) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        found = result_json(await client.call_tool("find_users", {"limit": 2}))
    async with _client(http_server, reader) as client:
        read_names = {t.name for t in (await client.list_tools()).tools}
        refused = await client.call_tool(
            "plan_create_user",
            {
                "email": "x@example.com",
                "first_name": "X",
                "last_name": "Y",
            },
        )
    assert names == {*READ_TOOLS, *WRITE_TOOLS}
    assert len(found["users"]) == 2
    assert read_names == set(READ_TOOLS)
    assert refused.is_error
    cli("mcp", "token", "revoke", "agent")
    async with httpx.AsyncClient(timeout=30) as http:
        revoked = await http.post(
            http_server, json=body, headers={**headers, "Authorization": f"Bearer {writer}"}
        )
    assert revoked.status_code == 401


def test_print_config_has_every_client(cli: Cli) -> None:
    configs = json.loads(cli("mcp", "--print-config", "--json").stdout)
    assert set(configs) == {"claude_desktop", "claude_code", "cursor", "streamable_http"}
    assert configs["claude_desktop"]["mcpServers"]["thresher"] == {"command": "thresher", "args": ["mcp"]}
    assert configs["streamable_http"]["mcpServers"]["thresher"]["url"] == "http://127.0.0.1:8765/mcp"
    text = cli("mcp", "--print-config", "--read-only").stdout
    assert '"--read-only"' in text
    assert "# cursor:" in text
