"""A time entry's JSON is written straight to bytes for speed (``_work_render.time_entry_json``);
these tests hold it to the plain rendering, a dict in the field order of Harvest's example
serialised by orjson, for every kind of entry: running or stopped, with and without either
assignment, awkward notes and names, integral and large numbers. And over real HTTP, a listed
entry is byte for byte the entry ``GET /v2/time_entries/{id}`` answers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from conftest import LiveSandbox
from thresher.sandbox import Sandbox, SandboxConfig, SandboxState
from thresher.sandbox._clock import format_ts
from thresher.sandbox._records import TimeEntry, User, UserAssignment
from thresher.sandbox._work_render import TimeEntryRenderer, entry_hours


def _rounded(hours: float) -> float:
    quarters = -(-round(hours * 100) // 25)
    return quarters * 25 / 100


def _assignment(state: SandboxState, ua: UserAssignment) -> dict[str, Any]:
    project, user = state.projects[ua.project_id], state.users[ua.user_id]
    return {
        "id": ua.id,
        "is_project_manager": ua.is_project_manager,
        "is_active": ua.is_active,
        "use_default_rates": ua.use_default_rates,
        "budget": ua.budget,
        "created_at": format_ts(ua.created_at),
        "updated_at": format_ts(ua.updated_at),
        "hourly_rate": ua.hourly_rate,
        "project": {"id": project.id, "name": project.name, "code": project.code},
        "user": {"id": user.id, "name": user.name},
    }


def expected(state: SandboxState, entry: TimeEntry, now: float) -> dict[str, Any]:
    """The entry as the OpenAPI file's example orders it (the rendering before it went to bytes)."""
    project = state.projects[entry.project_id]
    client, user = state.clients[project.client_id], state.users[entry.user_id]
    task = state.tasks[entry.task_id]
    ta = next((t for t in project.task_assignments if t.task_id == entry.task_id), None)
    ua = state.assignment_for(project.id, user.id)
    hours = entry_hours(entry, now)
    billable = project.is_billable and ta is not None and ta.billable
    rate = None
    if billable:
        rate = ua.hourly_rate if ua is not None and not ua.use_default_rates else user.default_hourly_rate
    return {
        "id": entry.id,
        "spent_date": entry.spent_date,
        "user": {"id": user.id, "name": user.name},
        "client": {"id": client.id, "name": client.name},
        "project": {"id": project.id, "name": project.name},
        "task": {"id": task.id, "name": task.name},
        "user_assignment": None if ua is None else _assignment(state, ua),
        "task_assignment": None
        if ta is None
        else {
            "id": ta.id,
            "billable": ta.billable,
            "is_active": ta.is_active,
            "created_at": format_ts(ta.created_at),
            "updated_at": format_ts(ta.updated_at),
            "hourly_rate": ta.hourly_rate,
            "budget": ta.budget,
            "task": {"id": task.id, "name": task.name},
        },
        "hours": hours,
        "hours_without_timer": entry.hours,
        "rounded_hours": _rounded(hours),
        "notes": entry.notes,
        "created_at": format_ts(entry.created_at),
        "updated_at": format_ts(entry.updated_at or entry.created_at),
        "is_locked": False,
        "locked_reason": None,
        "is_closed": False,
        "is_billed": False,
        "timer_started_at": None if entry.timer_started_at is None else format_ts(entry.timer_started_at),
        "started_time": entry.started_time,
        "ended_time": entry.ended_time,
        "is_running": entry.is_running,
        "invoice": None,
        "external_reference": None,
        "billable": billable,
        "budgeted": False,
        "billable_rate": rate,
        "cost_rate": user.cost_rate,
    }


def _same(state: SandboxState, entry: TimeEntry, now: float) -> None:
    assert TimeEntryRenderer(state, now)(entry) == orjson.dumps(expected(state, entry, now))


def test_every_seeded_entry_renders_as_the_dict_would() -> None:
    sandbox = Sandbox(SandboxConfig(users=60, seed=4, rate_limit=None))
    state, now = sandbox.state, sandbox.clock.now()
    assert len(state.time_entry_index) > 20
    for entry in state.time_entry_index.values():
        _same(state, entry, now)


@pytest.mark.parametrize(
    "notes",
    ["", 'quote " and \\ backslash', "line\nbreak\ttab\r\x01\x1f\x7f", "é 日本 😀 \u2028", "</script>"],
)
def test_awkward_text_is_escaped_as_orjson_does(notes: str) -> None:
    sandbox = Sandbox(SandboxConfig(users=5, seed=2, rate_limit=None))
    state = sandbox.state
    entry = next(iter(state.time_entry_index.values()))
    entry.notes = notes
    user = state.users[entry.user_id]
    user.first_name, user.last_name = notes or "x", 'O"Brien'
    state.projects[entry.project_id].name = notes + " project"
    _same(state, entry, sandbox.clock.now())


@pytest.mark.parametrize(
    "value", [None, 0, 0.0, -0.0, 150, 150.0, 0.1, 1e-5, 12.345678, 1e15, 1e16, 1e22, 123456789.25]
)
def test_numbers_are_written_as_orjson_writes_them(value: float | None) -> None:
    sandbox = Sandbox(SandboxConfig(users=5, seed=2, rate_limit=None))
    state = sandbox.state
    entry = next(iter(state.time_entry_index.values()))
    ua = state.assignment_for(entry.project_id, entry.user_id)
    assert ua is not None
    ua.hourly_rate, ua.budget, ua.use_default_rates = value, value, False
    state.users[entry.user_id].cost_rate = value
    state.projects[entry.project_id].task_assignments[0].hourly_rate = value
    if value is not None:
        entry.hours = value
    _same(state, entry, sandbox.clock.now())


def test_running_entries_and_missing_assignments() -> None:
    sandbox = Sandbox(SandboxConfig(users=8, seed=5, rate_limit=None))
    state, now = sandbox.state, sandbox.clock.now()
    entry = next(iter(state.time_entry_index.values()))
    _same(state, entry, now)
    entry.updated_at = entry.created_at + 86_400 * 3 + 7  # changed records: both dates differ
    ua = state.assignment_for(entry.project_id, entry.user_id)
    assert ua is not None
    ua.updated_at = ua.created_at + 61
    _same(state, entry, now)
    entry.timer_started_at, entry.started_time = int(now) - 5400, "8:00am"
    _same(state, entry, now)
    assert orjson.loads(TimeEntryRenderer(state, now)(entry))["is_running"] is True
    # Time on a project the user is not assigned to, and on a task the project no longer has.
    outsider: User = next(u for u in state.users.values() if u.id != entry.user_id)
    stray = dataclasses.replace(entry, id=entry.id + 10**6, user_id=outsider.id, timer_started_at=None)
    if state.assignment_for(stray.project_id, outsider.id) is None:
        _same(state, stray, now)
    project = state.projects[entry.project_id]
    state.tasks[999] = dataclasses.replace(state.tasks[project.task_assignments[0].task_id], id=999)
    _same(state, dataclasses.replace(entry, task_id=999), now)


def test_a_listed_entry_is_the_entry_get_answers(fresh_live_sandbox: LiveSandbox) -> None:
    live = fresh_live_sandbox
    listing = live.client.get("/v2/time_entries", params={"per_page": 3}, headers=live.headers())
    assert listing.status_code == 200
    for item in listing.json()["time_entries"]:
        one = live.client.get(f"/v2/time_entries/{item['id']}", headers=live.headers())
        assert one.status_code == 200
        assert one.content == orjson.dumps(item)
        assert one.headers["content-type"].startswith("application/json")


def test_listings_share_rendered_parts_until_the_account_changes(fresh_live_sandbox: LiveSandbox) -> None:
    live = fresh_live_sandbox

    def listed() -> list[dict[str, Any]]:
        response = live.client.get("/v2/time_entries", params={"per_page": 5}, headers=live.headers())
        assert response.status_code == 200
        entries: list[dict[str, Any]] = response.json()["time_entries"]
        return entries

    first = listed()[0]
    sandbox = live.sandbox
    with sandbox.lock:  # a rename the way every change ends: mark_changed()
        sandbox.state.tasks[first["task"]["id"]].name = "Renamed task"
        sandbox.state.clients[first["client"]["id"]].name = "Renamed client"
        sandbox.mark_changed()
    again = next(e for e in listed() if e["id"] == first["id"])
    assert again["task"]["name"] == again["task_assignment"]["task"]["name"] == "Renamed task"
    assert again["client"]["name"] == "Renamed client"
