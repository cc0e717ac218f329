"""Writes through the MCP server, in memory: a plan then an apply for each write tool, through
thresher's write-through paths, recorded in the change log with the source ``mcp``; an apply
refused after Harvest changed; an offboard of a user with hours (archived, and why); Harvest's
refusals as tool errors with the reason and the fix."""

from __future__ import annotations

from typing import Any

from mcp import Client

from mcp_server.conftest import McpHarness, agent, result_json, text_of


async def _plan_and_apply(
    client: Client, tool: str, args: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    plan = result_json(await client.call_tool(tool, args))
    assert plan["confirmation_id"], plan
    applied = result_json(await client.call_tool("apply_plan", {"confirmation_id": plan["confirmation_id"]}))
    return plan, applied


def _active_member(h: McpHarness, *, with_hours: bool) -> Any:
    state = h.sandbox.state
    return next(
        u
        for u in sorted(state.users.values(), key=lambda u: u.id)
        if u.is_active
        and u.access_roles == ["member"]
        and state.has_time_or_expenses(u.id) == with_hours
        and not any(u.id in t for t in state.teammates.values())
    )


async def test_plan_create_user_then_apply(harness: McpHarness) -> None:
    outbox = len(harness.sandbox.state.outbox)
    async with agent(harness) as client:
        plan, applied = await _plan_and_apply(
            client,
            "plan_create_user",
            {
                "email": "ada@example.com",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "access_roles": ["member"],
                "weekly_capacity_hours": 30,
                "timezone": "Europe/Lisbon",
            },
        )
        again = await client.call_tool("apply_plan", {"confirmation_id": plan["confirmation_id"]})
        twice = await client.call_tool(
            "plan_create_user",
            {
                "email": "ADA@example.com",
                "first_name": "Ada",
                "last_name": "Lovelace",
            },
        )
    assert [c["action"] for c in plan["changes"]] == ["create"]
    assert plan["invitations"] == 1
    assert "invitation" in plan["note"]
    assert len(harness.sandbox.state.outbox) == outbox + 1, "one invitation, sent on apply only"
    created = harness.store.find_user_by_email(harness.connection.id, "ada@example.com")
    assert created is not None
    assert created.weekly_capacity == 30 * 3600
    assert [(e["kind"], e["source"]) for e in applied["changes_recorded"]] == [("created", "mcp")]
    assert again.is_error
    assert "applied already" in text_of(again)
    assert twice.is_error
    assert "already a Harvest user" in text_of(twice)
    assert "plan_update_user" in text_of(twice)


async def test_planning_sends_nothing(harness: McpHarness) -> None:
    member = _active_member(harness, with_hours=True)
    async with agent(harness) as client:
        plan = result_json(
            await client.call_tool(
                "plan_update_user",
                {"user": member.email, "first_name": "Renamed", "weekly_capacity_hours": 12},
            )
        )
    assert {c["action"] for c in plan["changes"]} == {"update"}
    assert plan["changes"][0]["changes"]["first_name"] == {"from": member.first_name, "to": "Renamed"}
    assert harness.sandbox.state.users[member.id].first_name == member.first_name
    assert harness.harvest_requests() == 0


async def test_plan_update_user_then_apply(harness: McpHarness) -> None:
    member = _active_member(harness, with_hours=True)
    async with agent(harness) as client:
        plan, applied = await _plan_and_apply(
            client,
            "plan_update_user",
            {
                "user": str(member.id),
                "last_name": "Hopper",
                "email": "grace@example.com",
                "billable_rate": "150",
            },
        )
    assert {c["action"] for c in plan["changes"]} == {"update", "rate"}
    harvest = harness.sandbox.state.users[member.id]
    assert (harvest.last_name, harvest.email) == ("Hopper", "grace@example.com")
    stored = harness.store.get_user(harness.connection.id, member.id)
    assert stored is not None
    assert stored.email == "grace@example.com"
    assert str(stored.default_hourly_rate) == "150"
    assert {e["source"] for e in applied["changes_recorded"]} == {"mcp"}


async def test_plan_set_teammates_then_apply(harness: McpHarness) -> None:
    state = harness.sandbox.state
    manager_id, team = next((m, t) for m, t in sorted(state.teammates.items()) if t)
    newcomer = _active_member(harness, with_hours=False)
    wanted = [*team[1:], newcomer.id]
    async with agent(harness) as client:
        plan, applied = await _plan_and_apply(
            client,
            "plan_set_teammates",
            {
                "manager": str(manager_id),
                "teammates": [str(t) for t in wanted],
            },
        )
    diff = plan["changes"][0]["changes"]["teammates"]
    assert diff["add"] == [newcomer.email]
    assert diff["remove"] == [state.users[team[0]].email]
    assert sorted(state.teammates[manager_id]) == sorted(wanted)
    assert harness.store.get_teammates(harness.connection.id, manager_id) == sorted(wanted)
    assert "teammates_changed" in {e["kind"] for e in applied["changes_recorded"]}


async def test_plan_roster_onboards_from_a_list(harness: McpHarness) -> None:
    state = harness.sandbox.state
    manager = state.users[next(m for m, t in sorted(state.teammates.items()) if t)]
    csv = (
        "email,first_name,last_name,access_roles,manager_email\n"
        f"n1@example.com,New,One,member,{manager.email}\n"
        "n2@example.com,New,Two,member,\n"
        "n3@example.com,New,Three,manager,\n"
    )
    async with agent(harness) as client:
        plan, applied = await _plan_and_apply(client, "plan_roster", {"text": csv})
        bad = await client.call_tool("plan_roster", {"text": "email,first_name\nnot-an-email,X\n"})
    assert plan["counts"]["create"] == 3
    assert plan["invitations"] == 3
    assert applied["done"]["create"] == 3
    assert applied["done"]["teammates"] == 1
    emails = {u.email for u in state.users.values()}
    assert {"n1@example.com", "n2@example.com", "n3@example.com"} <= emails
    n1 = next(u.id for u in state.users.values() if u.email == "n1@example.com")
    assert n1 in state.teammates[manager.id]
    assert bad.is_error
    assert "line 2" in text_of(bad)
    assert "Fix:" in text_of(bad)


async def test_offboarding_a_user_with_hours_archives_and_says_why(harness: McpHarness) -> None:
    member = _active_member(harness, with_hours=True)
    async with agent(harness) as client:
        plan, applied = await _plan_and_apply(client, "plan_offboard", {"user": member.email, "delete": True})
    assert plan["action"] == "archive"
    assert plan["removal"]["can_delete"] is False
    assert "refuses to delete a user with time" in plan["why"]
    assert applied["offboard"]["outcome"] == "archived"
    assert harness.sandbox.state.users[member.id].is_active is False
    stored = harness.store.get_user(harness.connection.id, member.id)
    assert stored is not None
    assert stored.status == "archived"
    assert [(e["kind"], e["source"]) for e in applied["changes_recorded"]] == [("archived", "mcp")]


async def test_offboarding_deletes_only_when_asked_and_possible(harness: McpHarness) -> None:
    idle = _active_member(harness, with_hours=False)
    async with agent(harness) as client:
        archive_plan = result_json(await client.call_tool("plan_offboard", {"user": idle.email}))
        plan, applied = await _plan_and_apply(client, "plan_offboard", {"user": idle.email, "delete": True})
    assert archive_plan["action"] == "archive"
    assert plan["action"] == "delete"
    assert plan["changes"][0]["action"] == "delete"
    assert applied["offboard"]["outcome"] == "deleted"
    assert idle.id not in harness.sandbox.state.users
    assert harness.store.get_user(harness.connection.id, idle.id) is None
    assert [(e["kind"], e["source"]) for e in applied["changes_recorded"]] == [("deleted", "mcp")]


async def test_offboarding_takes_the_user_off_their_managers_teams(harness: McpHarness) -> None:
    state = harness.sandbox.state
    manager_id, team = next((m, t) for m, t in sorted(state.teammates.items()) if t)
    leaver = state.users[team[0]]
    async with agent(harness) as client:
        plan, _ = await _plan_and_apply(client, "plan_offboard", {"user": leaver.email})
    assert {c["action"] for c in plan["changes"]} >= {"teammates"}
    assert leaver.id not in state.teammates.get(manager_id, [])


async def test_an_apply_after_harvest_changed_is_refused(harness: McpHarness) -> None:
    member = _active_member(harness, with_hours=True)
    async with agent(harness) as client:
        plan = result_json(
            await client.call_tool("plan_update_user", {"user": member.email, "first_name": "Planned"})
        )
        # Another administrator changes the user in Harvest before the apply.
        await harness.ctx.client.update_user(member.id, {"last_name": "Elsewhere"})
        refused = await client.call_tool("apply_plan", {"confirmation_id": plan["confirmation_id"]})
    assert refused.is_error
    text = text_of(refused)
    assert "Harvest changed since the plan was made, so nothing was applied" in text
    assert "Elsewhere" in text
    assert "Make the plan again" in text
    assert harness.sandbox.state.users[member.id].first_name == member.first_name
    assert harness.store.list_events(harness.connection.id, source="mcp") == []


async def test_the_token_owner_is_never_offboarded(harness: McpHarness) -> None:
    async with agent(harness) as client:
        me = await harness.ctx.client.me()
        refused = await client.call_tool("plan_offboard", {"user": str(me.id)})
        kept = result_json(await client.call_tool("plan_update_user", {"user": str(me.id), "active": False}))
        roster = result_json(
            await client.call_tool(
                "plan_roster",
                {
                    "text": "email,first_name,last_name,active\n"
                    f"{me.email},{me.first_name},{me.last_name},no\n"
                },
            )
        )
    assert refused.is_error
    assert "never offboards itself" in text_of(refused)
    for plan in (kept, roster):
        assert "archive" not in {c["action"] for c in plan["changes"]}
        assert any("token's own user" in w for w in plan["warnings"])


async def test_harvest_refusals_are_tool_errors_with_reason_and_fix(harness: McpHarness) -> None:
    state = harness.sandbox.state
    member = _active_member(harness, with_hours=True)
    other = next(u for u in state.users.values() if u.id != member.id and u.is_active)
    async with agent(harness) as client:
        plan = result_json(
            await client.call_tool("plan_update_user", {"user": member.email, "first_name": "X"})
        )
        # The email is taken in Harvest after the plan, in a way the plan's basis does not cover.
        update = plan["changes"][0]
        assert update["action"] == "update"
        pending = harness.ctx.plans._plans[plan["confirmation_id"]]
        pending.saved.plan.changes[0].body["email"] = other.email
        refused = await client.call_tool("apply_plan", {"confirmation_id": plan["confirmation_id"]})
    text = text_of(refused)
    assert refused.is_error
    assert "Harvest refused" in text
    assert "422" in text
    assert "Fix:" in text
    assert "Traceback" not in text
