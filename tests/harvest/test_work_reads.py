"""The client's reads of clients, projects, tasks, task assignments, time entries, expenses and
the team report, against the sandbox over real HTTP (uvicorn on 127.0.0.1): typed records,
filters, pagination through ``links.next``, permissions mapped to errors, and the blocking twins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest

from thresher.harvest import (
    AsyncHarvest,
    Harvest,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    Project,
    TimeEntry,
)
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox

from .fakes import UA


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSandbox]:
    with run_sandbox(Sandbox(SandboxConfig(users=60, seed=5, rate_limit=None))) as served:
        yield served


def _client(running: RunningSandbox, token: str | None = None, **options: object) -> AsyncHarvest:
    creds = running.sandbox.credentials
    return AsyncHarvest(
        access_token=token or creds.admin_token,
        account_id=creds.account_id,
        user_agent=UA,
        base_url=running.api_url,
        id_url=running.id_url,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def harvest(running: RunningSandbox) -> AsyncIterator[AsyncHarvest]:
    async with _client(running) as client:
        yield client


async def test_clients_projects_tasks_and_task_assignments(
    running: RunningSandbox, harvest: AsyncHarvest
) -> None:
    state = running.sandbox.state
    projects = [p async for p in harvest.list_projects()]
    assert [p.id for p in projects] == sorted(state.projects, reverse=True)
    assert all(isinstance(p, Project) and p.client is not None for p in projects)
    client_id = projects[0].client.id  # type: ignore[union-attr]
    of_client = [p.id async for p in harvest.list_projects(client_id=client_id)]
    assert of_client == [p.id for p in projects if p.client is not None and p.client.id == client_id]
    archived = [p.id async for p in harvest.list_projects(is_active=False)]
    assert archived == [p.id for p in projects if not p.is_active]
    one = await harvest.get_project(projects[0].id)
    assert one == projects[0]
    with pytest.raises(NotFoundError):
        await harvest.get_project(1)
    clients = [c async for c in harvest.list_clients()]
    assert {c.id for c in clients} == set(state.clients)
    tasks = [t async for t in harvest.list_tasks()]
    assert {t.id for t in tasks} == set(state.tasks)
    assignments = [a async for a in harvest.list_task_assignments(projects[0].id)]
    assert {a.task.id for a in assignments} == {
        t.task_id for t in state.projects[projects[0].id].task_assignments
    }
    assert {a.project.id for a in assignments if a.project is not None} == {projects[0].id}


async def test_which_projects_a_manager_leads(running: RunningSandbox) -> None:
    creds, state = running.sandbox.credentials, running.sandbox.state
    manager = running.sandbox.user_for_token(creds.manager_token)
    assert manager is not None
    async with _client(running, creds.manager_token) as as_manager:
        led = {p.id async for p in as_manager.list_projects()}
    assert led == state.managed_project_ids(manager.id)
    async with _client(running, creds.member_token) as as_member:
        with pytest.raises(PermissionDeniedError):
            [p async for p in as_member.list_projects()]
        with pytest.raises(PermissionDeniedError):
            await as_member.team_time_report(dt.date(2000, 1, 1), dt.date(2030, 1, 1))
        own = [e async for e in as_member.list_time_entries()]
    member = running.sandbox.user_for_token(creds.member_token)
    assert member is not None
    assert own
    assert {e.user.id for e in own} == {member.id}


async def test_does_this_person_have_hours(running: RunningSandbox, harvest: AsyncHarvest) -> None:
    state = running.sandbox.state
    with_time = next(uid for uid, entries in state.time_entries.items() if entries)
    entries = [e async for e in harvest.list_time_entries(user_id=with_time)]
    assert sorted(e.id for e in entries) == sorted(e.id for e in state.time_entries[with_time])
    assert all(isinstance(e, TimeEntry) and e.user.id == with_time for e in entries)
    assert [(e.spent_date, e.id) for e in entries] == sorted(
        ((e.spent_date, e.id) for e in entries), reverse=True
    )
    one = entries[0]
    assert await harvest.get_time_entry(one.id) == one
    on_project = [e.id async for e in harvest.list_time_entries(project_id=one.project.id)]
    assert on_project == [
        e.id
        for e in sorted(
            (e for e in state.time_entry_index.values() if e.project_id == one.project.id),
            key=lambda e: (e.spent_date, e.id),
            reverse=True,
        )
    ]
    window = [e async for e in harvest.list_time_entries(from_=one.spent_date, to=one.spent_date.isoformat())]
    assert one.id in {e.id for e in window}
    assert {e.spent_date for e in window} == {one.spent_date}
    assert [e async for e in harvest.list_time_entries(is_running=True)] == []
    since = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    assert [e async for e in harvest.list_time_entries(updated_since=since)] == []
    with pytest.raises(InvalidRequestError):
        [e async for e in harvest.list_time_entries(from_="last tuesday")]
    expenses = [x async for x in harvest.list_expenses()]
    assert {x.id for x in expenses} == set(state.expense_index)
    spender = expenses[0].user.id
    assert {x.user.id async for x in harvest.list_expenses(user_id=spender)} == {spender}


async def test_team_time_report(running: RunningSandbox, harvest: AsyncHarvest) -> None:
    state = running.sandbox.state
    rows = await harvest.team_time_report(dt.date(2000, 1, 1), "2030-12-31")
    expected: dict[int, float] = {}
    for entry in state.time_entry_index.values():
        expected[entry.user_id] = expected.get(entry.user_id, 0.0) + entry.hours
    assert {r.user_id: r.total_hours for r in rows} == {
        uid: Decimal(str(round(hours, 2))) for uid, hours in expected.items()
    }
    with pytest.raises(InvalidRequestError):
        await harvest.team_time_report("2030-01-01", "2000-01-01")


def test_the_blocking_twins(running: RunningSandbox) -> None:
    creds = running.sandbox.credentials
    with Harvest(
        access_token=creds.admin_token,
        account_id=creds.account_id,
        user_agent=UA,
        base_url=running.api_url,
        id_url=running.id_url,
    ) as harvest:
        projects = list(harvest.list_projects())
        assert harvest.get_project(projects[0].id).id == projects[0].id
        assert len(list(harvest.list_time_entries(project_id=projects[0].id))) == sum(
            1 for e in running.sandbox.state.time_entry_index.values() if e.project_id == projects[0].id
        )
        assert harvest.team_time_report("2000-01-01", "2030-12-31")
        assert list(harvest.list_clients())
        assert list(harvest.list_tasks())
        assert list(harvest.list_task_assignments(projects[0].id))
        assert len(list(harvest.list_expenses())) == len(running.sandbox.state.expense_index)
