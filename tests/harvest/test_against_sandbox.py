"""The client against the sandbox over real HTTP (uvicorn on 127.0.0.1): every endpoint of
docs/harvest-api.md's quick reference (§9), and the error each of Harvest's refusals maps to (§2).

The unit tests (``httpx.MockTransport``) pin the client to the documented wire format; these show
the client and the sandbox agree with each other, so tests of the other parts built on both stand
on the same facts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from thresher.harvest import (
    AsyncHarvest,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableError,
    UserCreate,
)
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox

from .fakes import UA


@pytest.fixture
def running() -> Iterator[RunningSandbox]:
    with run_sandbox(Sandbox(SandboxConfig(users=14, seed=21, rate_limit=None))) as served:
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


def _email() -> str:
    return f"it.{uuid.uuid4().hex[:10]}@example.com"


async def test_users_lifecycle(running: RunningSandbox, harvest: AsyncHarvest) -> None:
    everyone = [u async for u in harvest.list_users(per_page=5)]  # three pages, cursor mode
    assert len(everyone) == len(running.sandbox.state.users) == 14
    assert len({u.id for u in everyone}) == 14
    me = await harvest.me()
    assert "administrator" in me.access_roles

    created = await harvest.create_user(
        UserCreate(first_name="Ida", last_name="Noddack", email=_email(), timezone="Europe/Berlin",
                   weekly_capacity_hours=30)
    )
    assert created.timezone == "Berlin"  # IANA in, Harvest's own zone name out (§8.9)
    assert created.weekly_capacity == 30 * 3600
    assert [i.to for i in running.sandbox.state.outbox] == [created.email]
    assert (await harvest.get_user(created.id)).email == created.email
    assert (await harvest.find_user_by_email(created.email.upper())) is not None

    updated = await harvest.update_user(created.id, {"last_name": "Tacke"})
    assert updated.last_name == "Tacke"
    assert updated.updated_at >= created.updated_at
    assert (await harvest.archive_user(created.id)).is_active is False
    active = {u.id async for u in harvest.list_users(is_active=True)}
    assert created.id not in active
    assert (await harvest.restore_user(created.id)).is_active is True
    await harvest.delete_user(created.id)
    with pytest.raises(NotFoundError):
        await harvest.get_user(created.id)


async def test_refusals_map_to_the_error_tree(running: RunningSandbox, harvest: AsyncHarvest) -> None:
    taken = next(iter(running.sandbox.state.users.values())).email
    with pytest.raises(UnprocessableError) as duplicate:
        await harvest.create_user({"first_name": "A", "last_name": "B", "email": taken})
    assert taken in str(duplicate.value)  # Harvest's message names the email (§8.2)

    worker = next(
        u for u in running.sandbox.state.users.values()
        if running.sandbox.state.time_entries.get(u.id) and "administrator" not in u.access_roles
    )
    with pytest.raises(UnprocessableError):
        await harvest.delete_user(worker.id)  # has time: archive instead (§8.5)

    creds = running.sandbox.credentials
    async with _client(running, creds.member_token) as member:
        with pytest.raises(PermissionDeniedError):
            await member.get_user(worker.id)
        assert (await member.me()).access_roles == ["member"]  # /me works for every role (§8.7)
    async with _client(running, "not-a-real-token-0000") as stranger:
        with pytest.raises(AuthenticationError):
            await stranger.me()


async def test_teammates_roles_and_rates(running: RunningSandbox, harvest: AsyncHarvest) -> None:
    users = [u async for u in harvest.list_users(is_active=True)]
    manager = next(u for u in users if u.access_roles[0] == "manager")
    members = [u for u in users if u.access_roles == ["member"]][:2]
    teammates = await harvest.set_teammates(manager.id, [m.id for m in members])
    assert sorted(t.id for t in teammates) == sorted(m.id for m in members)
    assert sorted([t.id async for t in harvest.list_teammates(manager.id)]) == sorted(m.id for m in members)
    assert "people_manager" in (await harvest.get_user(manager.id)).access_roles

    role = await harvest.create_role(f"Guild {uuid.uuid4().hex[:6]}", [members[0].id])
    assert role.user_ids == [members[0].id]
    assert role.name in (await harvest.get_user(members[0].id)).roles
    renamed = await harvest.update_role(role.id, name=role.name + "s", user_ids=[members[1].id])
    assert renamed.user_ids == [members[1].id]
    assert role.id in {r.id async for r in harvest.list_roles()}
    await harvest.delete_role(role.id)
    with pytest.raises(NotFoundError):
        await harvest.get_role(role.id)

    billable = await harvest.create_billable_rate(members[0].id, "150.00", "2026-01-01")
    assert (await harvest.get_billable_rate(members[0].id, billable.id)).amount == 150
    assert billable.id in {r.id async for r in harvest.list_billable_rates(members[0].id)}
    cost = await harvest.create_cost_rate(members[0].id, 80)
    assert (await harvest.get_cost_rate(members[0].id, cost.id)).amount == 80
    assert cost.id in {r.id async for r in harvest.list_cost_rates(members[0].id)}


async def test_assignments_company_and_accounts(running: RunningSandbox, harvest: AsyncHarvest) -> None:
    project, _ = running.sandbox.create_project("Integration")
    users = [u async for u in harvest.list_users(is_active=True)]
    newcomer = next(u for u in users if not u.has_access_to_all_future_projects)
    made = await harvest.create_project_user_assignment(project.id, {"user_id": newcomer.id})
    assert (await harvest.get_project_user_assignment(project.id, made.id)).user.id == newcomer.id
    changed = await harvest.update_project_user_assignment(project.id, made.id, {"is_project_manager": True})
    assert changed.is_project_manager is True
    listed = [a async for a in harvest.list_project_user_assignments(project.id)]
    assert made.id in {a.id for a in listed}
    assert made.id in {a.id async for a in harvest.list_user_assignments(user_id=newcomer.id)}
    assert project.id in {a.project.id async for a in harvest.list_project_assignments(newcomer.id)}
    await harvest.delete_project_user_assignment(project.id, made.id)
    with pytest.raises(NotFoundError):
        await harvest.get_project_user_assignment(project.id, made.id)

    company = await harvest.get_company()
    assert company.name == running.sandbox.state.company.name
    assert (await harvest.update_company(weekly_capacity=32 * 3600)).weekly_capacity == 32 * 3600

    accounts = [a async for a in harvest.list_accounts()]
    assert [a.id for a in accounts] == [running.sandbox.credentials.account_id]
    everything = await harvest.get_identity(harvest_only=False)
    assert running.sandbox.credentials.forecast_account_id in {a.id for a in everything.accounts}


async def test_a_create_whose_answer_is_lost_sends_one_invitation(running: RunningSandbox) -> None:
    # §8.1: every POST /v2/users emails the person. The sandbox's ``lost`` fault makes the
    # change and drops the answer; the client must find the user instead of posting again.
    email = _email()
    sandbox = running.sandbox

    async def lift_once_created() -> None:
        # The lookup after the lost answer must get through: lift the fault once the user exists
        # (the sandbox serves from another thread, so this polls its state).
        while not any(u.email == email for u in list(sandbox.state.users.values())):  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        sandbox.set_faults(None)

    async with _client(running) as harvest:
        await harvest.me()
        sandbox.set_faults("lost:1.0")
        try:
            create = harvest.create_user({"first_name": "Lise", "last_name": "Meitner", "email": email})
            user, _ = await asyncio.gather(create, lift_once_created())
        finally:
            sandbox.set_faults(None)
    assert user.email == email
    assert [i.to for i in sandbox.state.outbox].count(email) == 1
    assert sum(1 for u in sandbox.state.users.values() if u.email == email) == 1
    lost = [r for r in sandbox.state.request_log if r.fault == "lost"]
    assert [r.method for r in lost][:1] == ["POST"]
