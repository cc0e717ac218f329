"""Clients, projects, tasks, task assignments, time entries, expenses and the team report over real
HTTP: permissions by access role, pagination, filters, validation errors, and every 2xx body
validated against harvest-openapi.yaml (``sandbox_openapi.RESPONSE_SCHEMAS``, with its listed
deviations). The seeded data is coherent: every time entry lies on a project its user is assigned
to, so "not removable because of hours" arises from the seed alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sandbox_harness import Api, decode_cursor, query_of

from conftest import LiveSandbox


@pytest.fixture
def live(fresh_live_sandbox: LiveSandbox) -> LiveSandbox:
    return fresh_live_sandbox


@pytest.fixture
def api(live: LiveSandbox) -> Api:
    return Api(live.client, live.headers)


def _ids(records: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in records]


def test_seeded_time_lies_on_assigned_projects_and_blocks_deletes(live: LiveSandbox, api: Api) -> None:
    entries = api.walk("/v2/time_entries", "time_entries")
    assert len(entries) == len(live.sandbox.state.time_entry_index) > 10
    for entry in entries:
        assert entry["user_assignment"]["project"]["id"] == entry["project"]["id"]
        assert entry["user_assignment"]["user"]["id"] == entry["user"]["id"]
        assert entry["task_assignment"]["task"]["id"] == entry["task"]["id"]
    with_hours = entries[0]["user"]["id"]
    refused = api.delete("/v2/users/{id}", id=with_hours)
    assert refused.status_code == 422
    assert "time entries" in refused.json()["message"]
    assignment = entries[0]["user_assignment"]
    refused = api.delete(
        "/v2/projects/{pid}/user_assignments/{id}", pid=assignment["project"]["id"], id=assignment["id"]
    )
    assert refused.status_code == 422
    # Deleting the user's time and expenses makes the user removable.
    for entry in [e for e in entries if e["user"]["id"] == with_hours]:
        assert api.delete("/v2/time_entries/{id}", id=entry["id"]).status_code == 200
    for expense in api.walk("/v2/expenses", "expenses", params={"user_id": with_hours}):
        assert api.delete("/v2/expenses/{id}", id=expense["id"]).status_code == 200
    assert api.delete("/v2/users/{id}", id=with_hours).status_code == 200


def test_catalog_lists_paginate_with_cursors_and_filter(live: LiveSandbox, api: Api) -> None:
    for path, key in (("/v2/clients", "clients"), ("/v2/projects", "projects"), ("/v2/tasks", "tasks")):
        everything = api.walk(path, key)
        assert _ids(everything) == sorted(_ids(everything), reverse=True)  # newest first
        paged = api.walk(path, key, params={"per_page": 1})
        assert _ids(paged) == _ids(everything)
        first = api.get(path, params={"per_page": 1}).json()
        assert (first["page"], len(everything) > 1) == (1, True)
        assert decode_cursor(first["links"]["next"]) == {"after": {"id": everything[0]["id"]}}
        assert query_of(first["links"]["next"])["ref"] == ["next_cursor"]
        assert api.get(path, params={"per_page": 2001}).status_code == 422
    projects = api.walk("/v2/projects", "projects")
    client_id = projects[0]["client"]["id"]
    filtered = api.walk("/v2/projects", "projects", params={"client_id": client_id, "per_page": 1})
    assert _ids(filtered) == [p["id"] for p in projects if p["client"]["id"] == client_id]
    archived = [p["id"] for p in projects if not p["is_active"]]
    assert _ids(api.walk("/v2/projects", "projects", params={"is_active": "false"})) == archived
    assert api.get("/v2/projects", params={"client_id": "x"}).status_code == 422
    one = api.get("/v2/projects/{id}", id=projects[0]["id"])
    assert one.json() == projects[0]
    assert api.get("/v2/projects/{id}", id=1).status_code == 404
    tasks = api.get(
        "/v2/projects/{pid}/task_assignments", pid=projects[0]["id"], params={"per_page": 1}
    ).json()
    assert tasks["links"]["next"] is None or "page=2" in tasks["links"]["next"]  # plain pages
    assert tasks["total_entries"] >= 3
    walked = api.walk("/v2/projects/{pid}/task_assignments", "task_assignments", pid=projects[0]["id"])
    assert {t["project"]["id"] for t in walked} == {projects[0]["id"]}
    client = api.get("/v2/clients/{id}", id=client_id).json()
    assert client["id"] == client_id
    task = api.get("/v2/tasks/{id}", id=walked[0]["task"]["id"]).json()
    assert task["name"] == walked[0]["task"]["name"]


def test_catalog_permissions_by_role(live: LiveSandbox, api: Api) -> None:
    creds = live.credentials
    state = live.sandbox.state
    manager_id = live.sandbox.user_for_token(creds.manager_token).id  # type: ignore[union-attr]
    managed = sorted(state.managed_project_ids(manager_id), reverse=True)
    as_manager = api.walk("/v2/projects", "projects", token=creds.manager_token)
    assert _ids(as_manager) == managed
    clients = {state.projects[p].client_id for p in managed}
    assert set(_ids(api.walk("/v2/clients", "clients", token=creds.manager_token))) == clients
    assert api.get("/v2/tasks", token=creds.manager_token).status_code == 200
    unmanaged = next(p for p in state.projects if p not in managed)
    assert api.get("/v2/projects/{id}", id=unmanaged, token=creds.manager_token).status_code == 403
    assert (
        api.get("/v2/projects/{pid}/task_assignments", pid=unmanaged, token=creds.manager_token).status_code
        == 403
    )
    for path in (
        "/v2/clients",
        "/v2/projects",
        "/v2/tasks",
        f"/v2/projects/{unmanaged}/task_assignments",
        f"/v2/projects/{unmanaged}",
        f"/v2/clients/{state.projects[unmanaged].client_id}",
    ):
        answer = api.get(path, token=creds.member_token)
        assert (answer.status_code, set(answer.json())) == (403, {"message"}), path


def _member(live: LiveSandbox) -> tuple[int, dict[str, Any]]:
    """The member's id and one of their active project assignments (with a task)."""
    creds = live.credentials
    member = live.sandbox.user_for_token(creds.member_token)
    assert member is not None
    assignments = (
        Api(live.client, live.headers)
        .get("/v2/users/me/project_assignments", token=creds.member_token)
        .json()["project_assignments"]
    )
    return member.id, assignments[0]


def test_time_entries_by_role(live: LiveSandbox, api: Api) -> None:
    creds, state = live.credentials, live.sandbox.state
    member_id, _ = _member(live)
    own = api.walk("/v2/time_entries", "time_entries", token=creds.member_token)
    assert own
    assert {e["user"]["id"] for e in own} == {member_id}
    others = [e for e in state.time_entry_index.values() if e.user_id != member_id]
    hidden = api.get("/v2/time_entries/{id}", id=others[0].id, token=creds.member_token)
    assert hidden.status_code == 403
    manager = live.sandbox.user_for_token(creds.manager_token)
    assert manager is not None
    visible = {e["id"] for e in api.walk("/v2/time_entries", "time_entries", token=creds.manager_token)}
    teammates, managed = set(state.teammates[manager.id]), state.managed_project_ids(manager.id)
    expected = {
        e.id
        for e in state.time_entry_index.values()
        if e.user_id == manager.id or e.user_id in teammates or e.project_id in managed
    }
    assert visible == expected
    assert member_id in teammates  # the manager sees the member's time


def test_time_entry_list_filters_and_pages(live: LiveSandbox, api: Api) -> None:
    everything = api.walk("/v2/time_entries", "time_entries")
    keys = [(e["spent_date"], e["id"]) for e in everything]
    assert keys == sorted(keys, reverse=True)
    first = api.get("/v2/time_entries", params={"per_page": 5}).json()
    assert (first["page"], first["next_page"]) == (1, 2)
    assert query_of(first["links"]["next"])["page"] == ["2"]  # plain pages, no cursor
    assert _ids(api.walk("/v2/time_entries", "time_entries", params={"per_page": 5})) == _ids(everything)
    sample = everything[len(everything) // 2]
    cases: list[tuple[str, object, Callable[[dict[str, Any]], bool]]] = [
        ("user_id", sample["user"]["id"], lambda e: e["user"]["id"] == sample["user"]["id"]),
        ("project_id", sample["project"]["id"], lambda e: e["project"]["id"] == sample["project"]["id"]),
        ("client_id", sample["client"]["id"], lambda e: e["client"]["id"] == sample["client"]["id"]),
        ("from", sample["spent_date"], lambda e: e["spent_date"] >= sample["spent_date"]),
        ("to", sample["spent_date"].replace("-", ""), lambda e: e["spent_date"] <= sample["spent_date"]),
    ]
    for name, value, check in cases:
        got = api.walk("/v2/time_entries", "time_entries", params={name: value, "per_page": 3})
        assert _ids(got) == [e["id"] for e in everything if check(e)], name
    assert api.walk("/v2/time_entries", "time_entries", params={"is_running": "true"}) == []
    assert api.walk("/v2/time_entries", "time_entries", params={"is_billed": "true"}) == []
    for bad in (
        {"from": "yesterday"},
        {"user_id": "me"},
        {"is_running": "maybe"},
        {"page": "0"},
        {"updated_since": "soon"},
    ):
        answer = api.get("/v2/time_entries", params=bad)
        assert (answer.status_code, set(answer.json())) == (422, {"message"}), bad
    live.control("PUT", "/clock", json={"offset_seconds": 3600})
    changed = api.patch("/v2/time_entries/{id}", id=sample["id"], json={"notes": "changed"}).json()
    since = api.walk("/v2/time_entries", "time_entries", params={"updated_since": changed["updated_at"]})
    assert _ids(since) == [sample["id"]]


def test_time_entry_lifecycle(live: LiveSandbox, api: Api) -> None:
    creds = live.credentials
    member_id, assignment = _member(live)
    project_id = assignment["project"]["id"]
    task_id = assignment["task_assignments"][0]["task"]["id"]
    base = {"project_id": project_id, "task_id": task_id, "spent_date": "2026-03-02"}
    duration = api.post(
        "/v2/time_entries", json={**base, "hours": 1.5, "notes": "n"}, token=creds.member_token
    )
    assert duration.status_code == 201, duration.text
    entry = duration.json()
    assert (entry["user"]["id"], entry["hours"], entry["is_running"]) == (member_id, 1.5, False)
    assert duration.headers["location"].endswith(f"/v2/time_entries/{entry['id']}")
    times = api.post(
        "/v2/time_entries",
        json={**base, "started_time": "8:00am", "ended_time": "9:30am"},
        token=creds.member_token,
    ).json()
    assert (times["hours"], times["started_time"], times["ended_time"]) == (1.5, "8:00am", "9:30am")
    timer = api.post("/v2/time_entries", json=base, token=creds.member_token).json()
    assert (timer["is_running"], timer["timer_started_at"] is not None) == (True, True)
    running = api.walk("/v2/time_entries", "time_entries", params={"is_running": "true"})
    assert _ids(running) == [timer["id"]]
    assert api.patch("/v2/time_entries/{id}/restart", id=timer["id"]).status_code == 422
    live.control("PUT", "/clock", json={"offset_seconds": 1800})
    stopped = api.patch("/v2/time_entries/{id}/stop", id=timer["id"]).json()
    assert stopped["is_running"] is False
    assert stopped["hours"] == pytest.approx(0.5, abs=0.02)
    assert api.patch("/v2/time_entries/{id}/stop", id=timer["id"]).status_code == 422
    # Restarting one timer stops the user's other running timer.
    other = api.post("/v2/time_entries", json=base, token=creds.member_token).json()
    restarted = api.patch("/v2/time_entries/{id}/restart", id=timer["id"], token=creds.member_token).json()
    assert restarted["is_running"] is True
    assert api.get("/v2/time_entries/{id}", id=other["id"]).json()["is_running"] is False
    updated = api.patch(
        "/v2/time_entries/{id}", id=entry["id"], json={"hours": 2, "notes": "more"}, token=creds.member_token
    ).json()
    assert (updated["hours"], updated["notes"]) == (2.0, "more")
    deleted = api.delete("/v2/time_entries/{id}", id=entry["id"], token=creds.member_token)
    assert (deleted.status_code, deleted.json()["id"]) == (200, entry["id"])
    assert api.get("/v2/time_entries/{id}", id=entry["id"]).status_code == 404


def test_time_entry_validation_and_permissions(live: LiveSandbox, api: Api) -> None:
    creds, state = live.credentials, live.sandbox.state
    member_id, assignment = _member(live)
    project_id = assignment["project"]["id"]
    task_id = assignment["task_assignments"][0]["task"]["id"]
    base = {"project_id": project_id, "task_id": task_id, "spent_date": "2026-03-02"}
    blank = api.post("/v2/time_entries", json={})
    assert blank.json() == {
        "message": "Project can't be blank, Task can't be blank, Spent date can't be blank"
    }
    for body, words in (
        ({**base, "hours": 25}, "Hours must be less than or equal to 24"),
        ({**base, "hours": 1e300}, "Hours must be less than or equal to 24"),
        ({**base, "hours": -1}, "Hours must be greater than or equal to 0"),
        ({**base, "spent_date": "2026-02-30"}, "Spent date is not a valid date"),
        ({**base, "started_time": "25:00"}, "Started time is invalid"),
        ({**base, "started_time": "10:00", "ended_time": "9:00"}, "Ended time must be after"),
        ({**base, "task_id": 10**30}, "Task id must be less than or equal to"),
        ({**base, "project_id": 99}, "Project must exist"),
    ):
        answer = api.post("/v2/time_entries", json={**body, "user_id": member_id})
        assert answer.status_code == 422, body
        assert words in answer.json()["message"], (body, answer.json())
    unassigned = next(p for p in state.projects if state.assignment_for(p, member_id) is None)
    answer = api.post("/v2/time_entries", json={**base, "user_id": member_id, "project_id": unassigned})
    assert answer.json()["message"].startswith("User is not assigned to this project")
    # A member tracks their own time only; a manager a teammate's too.
    admin = live.sandbox.user_for_token(creds.admin_token)
    assert admin is not None
    denied = api.post("/v2/time_entries", json={**base, "user_id": admin.id}, token=creds.member_token)
    assert denied.status_code == 403
    for_teammate = api.post(
        "/v2/time_entries", json={**base, "user_id": member_id, "hours": 1}, token=creds.manager_token
    )
    assert for_teammate.status_code == 201, for_teammate.text
    assert len(state.users) == 40


def test_expenses(live: LiveSandbox, api: Api) -> None:
    creds, state = live.credentials, live.sandbox.state
    member_id, assignment = _member(live)
    project_id = assignment["project"]["id"]
    body = {
        "project_id": project_id,
        "expense_category_id": 4195926,
        "spent_date": "2026-03-02",
        "total_cost": 12.5,
        "notes": "lunch",
    }
    created = api.post("/v2/expenses", json=body, token=creds.member_token)
    assert created.status_code == 201, created.text
    expense = created.json()
    assert (expense["user"]["id"], expense["total_cost"], expense["expense_category"]["name"]) == (
        member_id,
        12.5,
        "Meals",
    )
    mileage = api.post(
        "/v2/expenses",
        json={**body, "expense_category_id": 4195930, "units": 10, "total_cost": None},
        token=creds.member_token,
    ).json()
    assert mileage["total_cost"] == 6.55
    own = api.walk("/v2/expenses", "expenses", token=creds.member_token)
    assert {e["user"]["id"] for e in own} == {member_id}
    assert {expense["id"], mileage["id"]} <= set(_ids(own))
    everything = api.walk("/v2/expenses", "expenses", params={"per_page": 1})
    assert len(everything) == len(state.expense_index)
    assert _ids(
        api.walk("/v2/expenses", "expenses", params={"from": "2026-03-02", "to": "2026-03-02"})
    ) == sorted([expense["id"], mileage["id"]], reverse=True)
    for bad, words in (
        ({}, "Project can't be blank"),
        ({**body, "expense_category_id": 5}, "Expense category"),
        ({**body, "total_cost": 1e30}, "Total cost must be less than"),
        ({**body, "expense_category_id": 4195930, "total_cost": None}, "Units can't be blank"),
    ):
        answer = api.post("/v2/expenses", json=bad)
        assert answer.status_code == 422
        assert words in answer.json()["message"], (bad, answer.json())
    admin = live.sandbox.user_for_token(creds.admin_token)
    assert admin is not None
    assert (
        api.post("/v2/expenses", json={**body, "user_id": admin.id}, token=creds.member_token).status_code
        == 403
    )
    others = next(e for e in state.expense_index.values() if e.user_id != member_id)
    assert api.delete("/v2/expenses/{id}", id=others.id, token=creds.member_token).status_code == 403
    deleted = api.delete("/v2/expenses/{id}", id=expense["id"], token=creds.member_token)
    assert (deleted.status_code, deleted.json()["id"]) == (200, expense["id"])
    assert api.get("/v2/expenses/{id}", id=expense["id"]).status_code == 404


def test_team_report(live: LiveSandbox, api: Api) -> None:
    creds, state = live.credentials, live.sandbox.state
    report = api.get("/v2/reports/time/team", params={"from": "20000101", "to": "20301231"}).json()
    totals = {r["user_id"]: r["total_hours"] for r in report["results"]}
    expected: dict[int, float] = {}
    for entry in state.time_entry_index.values():
        expected[entry.user_id] = expected.get(entry.user_id, 0.0) + entry.hours
    assert totals == {uid: round(hours, 2) for uid, hours in expected.items()}
    paged = api.get("/v2/reports/time/team", params={"from": "2000-01-01", "to": "2030-12-31", "per_page": 2})
    assert paged.json()["total_entries"] == len(totals)
    manager = live.sandbox.user_for_token(creds.manager_token)
    assert manager is not None
    mine = api.get(
        "/v2/reports/time/team", params={"from": "20000101", "to": "20301231"}, token=creds.manager_token
    ).json()
    assert {r["user_id"] for r in mine["results"]} <= {manager.id, *state.teammates[manager.id]}
    assert (
        api.get(
            "/v2/reports/time/team", params={"from": "20000101", "to": "20301231"}, token=creds.member_token
        ).status_code
        == 403
    )
    for bad in (
        {},
        {"from": "20000101"},
        {"from": "x", "to": "20000101"},
        {"from": "20300101", "to": "20000101"},
    ):
        answer = api.get("/v2/reports/time/team", params=bad)
        assert (answer.status_code, set(answer.json())) == (422, {"message"}), bad


def test_reports_have_their_own_lower_rate_limit(live: LiveSandbox, api: Api) -> None:
    live.control("PUT", "/settings", json={"reports_rate_limit": "2/1h", "rate_limit": "50/1h"})
    params = {"from": "20000101", "to": "20301231"}
    assert [api.get("/v2/reports/time/team", params=params).status_code for _ in range(2)] == [200, 200]
    limited = api.get("/v2/reports/time/team", params=params)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 3000
    assert api.get("/v2/users/me").status_code == 200  # the general budget is apart
    assert live.control("GET", "/settings").json()["reports_rate_limit"] == "2/1h"
