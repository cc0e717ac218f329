"""The read tools' copy of the mirror follows the store, Harvest's 403 is an honest tool error,
and ``thresher mcp``'s command module loads no heavy stack at start-up."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from mcp import Client

from harvest_clients import FAST_RETRY, engine, settings_for
from mcp_server.conftest import McpHarness, agent, result_json, text_of
from thresher.harvest import AsyncHarvest, LimiterRegistry
from thresher.mcp import McpContext, MirrorFreshness, build_server


async def test_changes_synced_by_another_process_show_in_the_next_read(harness: McpHarness) -> None:
    user = next(u for u in sorted(harness.sandbox.state.users.values(), key=lambda u: u.id) if u.is_active)
    harness.ctx.index.max_lag = 0.0  # check the change log on every read
    async with agent(harness) as client:
        before = result_json(await client.call_tool("find_users", {"query": "Zebediah"}))
        # Another process renames the user in Harvest and syncs the store.
        await harness.ctx.client.update_user(user.id, {"first_name": "Zebediah"})
        await engine(harness.store, harness.ctx.client, harness.connection).run()
        after = result_json(await client.call_tool("find_users", {"query": "zebediah"}))
        profile = result_json(await client.call_tool("get_user", {"user": str(user.id)}))
    assert before["total"] == 0
    assert [u["id"] for u in after["users"]] == [user.id]
    assert profile["user"]["first_name"] == "Zebediah"


async def test_a_403_is_a_tool_error_naming_the_missing_role(harness: McpHarness) -> None:
    creds = harness.sandbox.credentials
    settings = dataclasses.replace(settings_for(harness.sandbox), access_token=creds.member_token)
    async with AsyncHarvest(
        settings, transport=harness.transport, limiter_registry=LimiterRegistry(), retry=FAST_RETRY
    ) as member:
        ctx = McpContext(
            harness.store,
            harness.connection,
            member,
            MirrorFreshness(harness.store, harness.connection, None),
        )
        async with Client(build_server(ctx)) as client:
            refused = await client.call_tool(
                "user_hours", {"from_date": "2020-01-01", "to_date": "2020-12-31"}
            )
    text = text_of(refused)
    assert refused.is_error
    assert text.startswith("Error executing tool user_hours: Harvest refused")
    assert "403" in text
    assert "needs: Administrator" in text
    assert "Traceback" not in text


def test_the_command_module_loads_no_heavy_stack() -> None:
    probe = (
        "import json, sys; import thresher.cli._mcp; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mcp', 'sqlalchemy', 'pydantic', 'httpx', 'starlette', 'uvicorn') "
        "or m.startswith('thresher.mcp'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120, env=env
    )
    assert json.loads(done.stdout) == []
