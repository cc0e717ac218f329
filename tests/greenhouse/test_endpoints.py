"""Every v3 user endpoint through the client, against the sandbox in-process and over real HTTP
(docs/greenhouse.md §2)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from thresher.greenhouse import (
    AsyncGreenhouse,
    InvalidRequestError,
    NotFoundError,
    RequestRecord,
    UnprocessableError,
    UserCreate,
)

from .conftest import Target


def _visible(target: Target) -> list[int]:
    users = target.sandbox.state.users.values()
    return sorted((u.id for u in users if not u.service_account), reverse=True)


async def test_list_users_follows_cursor_pages_id_descending(target: Target) -> None:
    records: list[RequestRecord] = []
    async with target.client(records=records, per_page=7) as gh:
        ids = [u.id async for u in gh.list_users()]
    assert ids == _visible(target)
    pages = [r for r in records if r.path == "/v3/users"]
    assert len(pages) == -(-len(ids) // 7)  # every page costs one request, no more
    log = [r for r in target.log() if r["path"] == "/v3/users"]
    assert "per_page=7" in log[0]["query"]
    assert all(r["query"].startswith("cursor=") and "&" not in r["query"] for r in log[1:])


async def test_pages_resume_from_a_saved_next_url(gh: AsyncGreenhouse, target: Target) -> None:
    first = None
    async for page in gh.user_pages(per_page=10):
        first = page
        break
    assert first is not None
    assert first.next_url is not None
    rest = [u.id async for p in gh.user_pages(start_url=first.next_url) for u in p.items]
    assert [u.id for u in first.items] + rest == _visible(target)


async def test_user_filters(gh: AsyncGreenhouse, target: Target) -> None:
    state = target.sandbox.state
    users = [u for u in state.users.values() if not u.service_account]
    deactivated = {u.id for u in users if u.deactivated}
    assert {u.id async for u in gh.list_users(deactivated=True)} == deactivated
    some = users[5]
    assert some.primary_email is not None
    assert [u.id async for u in gh.list_users(primary_email=some.primary_email.upper())] == [some.id]
    assert {u.id async for u in gh.list_users(ids=[users[1].id, users[2].id])} == {users[1].id, users[2].id}
    with_employee = next(u for u in users if u.employee_id)
    assert with_employee.employee_id is not None
    assert [u.id async for u in gh.list_users(employee_ids=[with_employee.employee_id])] == [with_employee.id]
    cutoff = sorted(u.updated_at for u in users)[len(users) // 2]
    since = dt.datetime.fromtimestamp(cutoff, dt.UTC)
    expected = {u.id for u in users if u.updated_at >= cutoff}
    assert {u.id async for u in gh.list_users(updated_at=("gte", since))} == expected
    assert {u.id async for u in gh.list_users(updated_at=f"gte|{since:%Y-%m-%dT%H:%M:%SZ}")} == expected
    service = [u async for u in gh.list_users(show_service_accounts=True) if u.primary_email is None]
    assert [u.id for u in service] == [state.service_id]
    with pytest.raises(InvalidRequestError, match="OPERATOR"):
        [u async for u in gh.list_users(updated_at="since 2024")]


async def test_get_create_update(gh: AsyncGreenhouse, target: Target) -> None:
    state = target.sandbox.state
    assert (await gh.get_user(state.basic_id)).id == state.basic_id
    with pytest.raises(NotFoundError):
        await gh.get_user(1)
    created = await gh.create_user(
        UserCreate(first_name="Nia", last_name="Okoro", email="nia.okoro@example.com", employee_id="E-77")
    )
    assert created.primary_email == "nia.okoro@example.com"
    assert created.employee_id == "E-77"
    assert not created.deactivated
    assert target.sandbox.state.outbox == []  # no invitation unless asked (send_email_invite)
    await gh.create_user(
        {"first_name": "Ola", "last_name": "Eze", "email": "ola@example.com", "send_email_invite": True}
    )
    assert [m["to"] for m in target.sandbox.state.outbox] == ["ola@example.com"]
    with pytest.raises(UnprocessableError, match="email: has already been taken"):
        await gh.create_user({"first_name": "N", "last_name": "O", "email": "NIA.okoro@example.com"})
    with pytest.raises(InvalidRequestError, match="email"):
        await gh.create_user({"first_name": "N", "last_name": "O", "email": "not-an-email"})
    updated = await gh.update_user(created.id, {"job_title": "Recruiter", "last_name": "Okoro-Ade"})
    assert (updated.job_title, updated.last_name) == ("Recruiter", "Okoro-Ade")
    assert updated.updated_at is not None
    with pytest.raises(NotFoundError):
        await gh.update_user(1, {"job_title": "x"})


async def test_deactivate_and_activate_are_idempotent(gh: AsyncGreenhouse, target: Target) -> None:
    uid = target.sandbox.state.basic_id
    for _ in range(2):
        await gh.deactivate_user(uid)
        assert (await gh.get_user(uid)).deactivated
    for _ in range(2):
        await gh.activate_user(uid)
        assert (await gh.get_user(uid)).active
    statuses = [r["status"] for r in target.log() if r["path"].endswith(("/deactivate", "/activate"))]
    assert statuses == [204, 204, 204, 204]


async def test_permissions_emails_and_roles(gh: AsyncGreenhouse, target: Target) -> None:
    uid = target.sandbox.state.basic_id
    roles = [r async for r in gh.list_user_roles()]
    assert {r.role_type for r in roles} == {"job_admin", "deprecated_interviewer", "site_admin"}
    job_admin = next(r.id for r in roles if r.role_type == "job_admin")
    perm = await gh.add_job_permission(uid, 4242, job_admin)
    assert [p.id async for p in gh.list_job_permissions(user_ids=[uid])] == [perm.id]
    assert [p.job_id async for p in gh.list_job_permissions(job_ids=[4242])] == [4242]
    future = await gh.add_future_job_permission(uid, job_admin, department_id=201)
    assert (future.department_id, future.office_id) == (201, None)
    assert [p.id async for p in gh.list_future_job_permissions(user_ids=[uid])] == [future.id]
    email = await gh.add_user_email(uid, "second@example.com")
    assert (email.user_id, email.email) == (uid, "second@example.com")
    assert "second@example.com" in (await gh.get_user(uid)).emails
    await gh.remove_job_permission(perm.id)
    with pytest.raises(NotFoundError):
        await gh.remove_job_permission(perm.id)
    await gh.remove_future_job_permission(future.id)
    assert [p async for p in gh.list_future_job_permissions(user_ids=[uid])] == []


async def test_revoke_permissions_demotes_to_basic(gh: AsyncGreenhouse, target: Target) -> None:
    state = target.sandbox.state
    admin = next(
        u for u in state.users.values() if u.site_admin and u.id != state.admin_id and not u.service_account
    )
    await gh.add_job_permission(admin.id, 7, 1)
    await gh.revoke_permissions(admin.id)
    after = await gh.get_user(admin.id)
    assert not after.site_admin
    assert [p async for p in gh.list_job_permissions(user_ids=[admin.id])] == []


async def test_a_cursor_request_with_other_parameters_is_refused(target: Target) -> None:
    """docs/greenhouse.md §3: a cursor request must carry only ``cursor`` (422 otherwise)."""
    async with target.client(per_page=5) as gh:
        page = await anext(gh.user_pages())
        assert page.next_url is not None
        with pytest.raises(UnprocessableError, match="cursor"):
            await gh._send(
                "GET",
                page.next_url,
                params={"cursor": httpx.URL(page.next_url).params["cursor"], "per_page": "5"},
            )
