"""The MCP server through the SDK's own client, in memory: the tool list and its schemas, every
read tool against a synced sandbox, resources, prompts and honest errors."""

from __future__ import annotations

import datetime as dt

from mcp_server.conftest import McpHarness, agent, result_json, text_of
from thresher.mcp import READ_TOOLS, WRITE_TOOLS
from thresher.store import USERS_RESOURCE


async def test_tool_list_and_schemas(harness: McpHarness) -> None:
    async with agent(harness) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {*READ_TOOLS, *WRITE_TOOLS}
    find = tools["find_users"].input_schema
    assert set(find["properties"]) == {
        "query",
        "email",
        "access_role",
        "role",
        "manager",
        "status",
        "limit",
        "offset",
    }
    assert find["properties"]["status"]["enum"] == ["active", "archived", "deleted", "any"]
    assert find["properties"]["limit"]["maximum"] == 500
    assert tools["get_user"].input_schema["required"] == ["user"]
    assert tools["apply_plan"].input_schema["required"] == ["confirmation_id"]
    create = tools["plan_create_user"].input_schema
    assert set(create["required"]) == {"email", "first_name", "last_name"}
    for name in READ_TOOLS:
        annotations = tools[name].annotations
        assert annotations is not None, name
        assert annotations.read_only_hint, name
        assert tools[name].description
    assert tools["apply_plan"].annotations is not None
    assert tools["apply_plan"].annotations.destructive_hint


async def test_a_read_only_server_has_no_write_tool(harness: McpHarness) -> None:
    async with agent(harness, read_only=True) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        refused = await client.call_tool("plan_offboard", {"user": "1"})
    assert names == set(READ_TOOLS)
    assert refused.is_error
    assert "plan_offboard" in text_of(refused)


async def test_find_users_pages_and_filters_from_the_mirror(harness: McpHarness) -> None:
    users = {u.id: u for u in harness.sandbox.state.users.values()}
    active = sorted(uid for uid, u in users.items() if u.is_active)
    async with agent(harness) as client:
        first = result_json(await client.call_tool("find_users", {"limit": 4}))
        second = result_json(
            await client.call_tool("find_users", {"limit": 4, "offset": first["next_offset"]})
        )
        archived = result_json(await client.call_tool("find_users", {"status": "archived"}))
        some = users[active[2]]
        by_name = result_json(await client.call_tool("find_users", {"query": some.last_name.upper()}))
        by_email = result_json(await client.call_tool("find_users", {"email": some.email.upper()}))
        members = result_json(await client.call_tool("find_users", {"access_role": "member", "limit": 500}))
        role = next(iter(harness.sandbox.state.roles.values()))
        in_role = result_json(await client.call_tool("find_users", {"role": role.name, "status": "any"}))
        archived_members = result_json(
            await client.call_tool("find_users", {"access_role": "member", "status": "archived"})
        )
    assert first["total"] == len(active)
    assert [u["id"] for u in first["users"] + second["users"]] == active[:8]
    assert {u["id"] for u in archived["users"]} == {uid for uid, u in users.items() if not u.is_active}
    assert some.id in {u["id"] for u in by_name["users"]}
    assert [u["id"] for u in by_email["users"]] == [some.id]
    assert all("member" in u["access_roles"] for u in members["users"])
    assert {u["id"] for u in members["users"]} == {
        uid for uid, u in users.items() if u.is_active and "member" in u.access_roles
    }
    assert {u["id"] for u in in_role["users"]} == set(role.user_ids)
    assert {u["id"] for u in archived_members["users"]} == {
        uid for uid, u in users.items() if not u.is_active and "member" in u.access_roles
    }
    assert first["mirror"]["as_of"] is not None
    assert first["mirror"]["synced_now"] is False
    assert harness.harvest_requests() == 0


async def test_get_user_who_reports_to_and_roles(harness: McpHarness) -> None:
    state = harness.sandbox.state
    manager_id, team = next((m, t) for m, t in sorted(state.teammates.items()) if t)
    manager = state.users[manager_id]
    async with agent(harness) as client:
        boss = result_json(await client.call_tool("get_user", {"user": manager.email}))
        reports = result_json(await client.call_tool("who_reports_to", {"manager": str(manager_id)}))
        report = result_json(await client.call_tool("get_user", {"user": str(team[0])}))
        team_search = result_json(await client.call_tool("find_users", {"manager": manager.email}))
        roles = result_json(await client.call_tool("list_roles", {}))
    assert boss["user"]["email"] == manager.email
    assert {t["id"] for t in boss["teammates"]} == set(team)
    assert {r["id"] for r in reports["reports"]} == set(team)
    assert manager_id in {m["id"] for m in report["managers"]}
    assert {u["id"] for u in team_search["users"]} == {t for t in team if state.users[t].is_active}
    assert boss["has_hours"] is None
    assert "live=true" in boss["note"]
    assert {r["name"] for r in roles["roles"]} == {r.name for r in state.roles.values()}
    assert harness.harvest_requests() == 0


async def test_get_user_live_reads_assignments_and_hours(harness: McpHarness) -> None:
    state = harness.sandbox.state
    with_hours = next(uid for uid, entries in sorted(state.time_entries.items()) if entries)
    async with agent(harness) as client:
        live = result_json(await client.call_tool("get_user", {"user": str(with_hours), "live": True}))
    assert live["has_hours"] is True
    assert live["can_delete"] is False
    assert live["project_assignments"], "the sandbox assigns every user to a project"
    assert harness.harvest_requests() == 3


async def test_user_hours_from_time_entries_and_the_team_report(harness: McpHarness) -> None:
    state = harness.sandbox.state
    uid, entries = next((u, e) for u, e in sorted(state.time_entries.items()) if e)
    expected = round(sum(e.hours for e in entries), 2)
    async with agent(harness) as client:
        one = result_json(
            await client.call_tool(
                "user_hours", {"user": str(uid), "from_date": "2000-01-01", "to_date": "2100-01-01"}
            )
        )
        team = result_json(
            await client.call_tool("user_hours", {"from_date": "2000-01-01", "to_date": "2100-01-01"})
        )
        bad = await client.call_tool("user_hours", {"from_date": "2020-02-01", "to_date": "2020-01-01"})
    assert round(one["total_hours"], 2) == expected
    assert one["entries"] == len(entries)
    assert {r["user_id"] for r in team["users"]} >= {uid}
    assert bad.is_error
    assert "before" in text_of(bad)
    assert "Fix:" in text_of(bad)


async def test_roster_summary_and_list_changes(harness: McpHarness) -> None:
    users = list(harness.sandbox.state.users.values())
    async with agent(harness) as client:
        summary = result_json(await client.call_tool("roster_summary", {}))
        changes = result_json(await client.call_tool("list_changes", {"since": "1h", "kind": "created"}))
        typo = await client.call_tool("list_changes", {"since": "last tuesday"})
    assert summary["by_status"] == {
        "active": sum(u.is_active for u in users),
        "archived": sum(not u.is_active for u in users),
        "deleted": 0,
    }
    assert sum(
        summary["active_by_access_role"].get(r, 0) for r in ("administrator", "manager", "member")
    ) == sum(u.is_active for u in users)
    created = [c for c in changes["changes"] if c["resource"] == "user"]
    assert {c["harvest_id"] for c in created} == {u.id for u in users}
    assert all(c["kind"] == "created" and c["source"] == "sync" and c["email"] for c in created)
    assert typo.is_error
    assert "Fix:" in text_of(typo)


async def test_resources_and_prompts(harness: McpHarness) -> None:
    async with agent(harness) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        summary = await client.read_resource("thresher://roster/summary")
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        onboard = await client.get_prompt("onboard_from_list", {"people": "Ada Lovelace <ada@example.com>"})
        offboard = await client.get_prompt("offboard_person", {"person": "bob@example.com"})
    assert listed == {"thresher://roster/summary", "thresher://changes/recent"}
    assert '"by_status"' in summary.contents[0].text  # type: ignore[union-attr]
    assert prompts == {"onboard_from_list", "offboard_person"}
    assert "ada@example.com" in onboard.messages[0].content.text  # type: ignore[union-attr]
    assert "plan_offboard" in offboard.messages[0].content.text  # type: ignore[union-attr]


async def test_a_stale_mirror_is_synced_before_a_read_and_says_so(harness: McpHarness) -> None:
    harness.ctx.freshness.max_age = dt.timedelta(seconds=0)
    harness.ctx.freshness._as_of = None
    async with agent(harness) as client:
        answer = result_json(await client.call_tool("roster_summary", {}))
    assert answer["mirror"]["synced_now"] is True
    assert harness.harvest_requests() > 0
    state = harness.store.get_sync_state(harness.connection.id, USERS_RESOURCE)
    assert state.high_water_mark is not None


async def test_unknown_users_are_tool_errors_with_the_fix(harness: McpHarness) -> None:
    async with agent(harness) as client:
        missing = await client.call_tool("get_user", {"user": "nobody@example.com"})
        invalid = await client.call_tool("find_users", {"limit": 0})
    assert missing.is_error
    assert "no user 'nobody@example.com'" in text_of(missing)
    assert "find_users" in text_of(missing)
    assert "Traceback" not in text_of(missing)
    assert invalid.is_error
