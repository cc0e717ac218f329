"""An MCP server on a sandbox, in process: the sandbox over httpx.ASGITransport (requests
counted), a store synced from it, and the SDK's own client connected to the server in memory."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from harvest_clients import FAST_RETRY, connection_for, engine, settings_for
from scim.conftest import CountingTransport
from thresher.harvest import AsyncHarvest, LimiterRegistry
from thresher.mcp import McpContext, MirrorFreshness, build_server
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import Store, StoredConnection


@dataclasses.dataclass
class McpHarness:
    sandbox: Sandbox
    store: Store
    connection: StoredConnection
    transport: CountingTransport
    ctx: McpContext

    def harvest_requests(self) -> int:
        return len(self.transport.requests)


def result_json(result: CallToolResult) -> Any:
    """A successful tool call's answer."""
    assert not result.is_error, text_of(result)
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(text_of(result))


def text_of(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


@pytest.fixture
def mcp_sandbox_config() -> SandboxConfig:
    return SandboxConfig(users=12, seed=5, rate_limit=None)


@pytest.fixture
async def harness(store: Store, mcp_sandbox_config: SandboxConfig) -> AsyncIterator[McpHarness]:
    sandbox = Sandbox(mcp_sandbox_config)
    transport = CountingTransport(sandbox.app)
    harvest = AsyncHarvest(
        settings_for(sandbox), transport=transport, limiter_registry=LimiterRegistry(), retry=FAST_RETRY
    )
    async with harvest:
        connection = connection_for(store, sandbox)
        sync = engine(store, harvest, connection)
        await sync.run(full=True)
        ctx = McpContext(store, connection, harvest, MirrorFreshness(store, connection, sync))
        transport.requests.clear()
        yield McpHarness(sandbox, store, connection, transport, ctx)


def agent(harness: McpHarness, *, read_only: bool = False) -> Client:
    """The SDK's client on the harness's server, in memory: ``async with agent(h) as client``.
    (Not a fixture: the SDK's task group must be entered and left in the test's own task.)"""
    return Client(build_server(harness.ctx, read_only=read_only))
