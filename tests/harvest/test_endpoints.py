"""Every endpoint of docs/harvest-api.md §9: method, path, query, body, headers and the parsed answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from thresher.harvest import (
    AsyncHarvest,
    Company,
    IdentityAccounts,
    InvalidRequestError,
    ProjectAssignment,
    Rate,
    Role,
    Teammate,
    User,
    UserAssignment,
    UserAssignmentUpdate,
    UserCreate,
)

from .fakes import (
    ACCOUNT,
    BASE,
    ID_URL,
    TOKEN,
    UA,
    FakeHarvest,
    company_json,
    json_response,
    make_client,
    page_json,
    project_assignment_json,
    rate_json,
    role_json,
    teammate_json,
    user_assignment_json,
    user_json,
)

SINCE = dt.datetime(2024, 1, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


@dataclasses.dataclass
class Case:
    name: str
    call: Callable[[AsyncHarvest], Awaitable[Any]]
    method: str
    path: str
    answer: httpx.Response
    query: dict[str, str] = dataclasses.field(default_factory=dict)
    body: Any = None
    check: Callable[[Any], bool] = lambda result: True


CASES = [
    # §6.4 users
    Case("list_users", lambda h: collect(h.list_users(is_active=True, updated_since=SINCE)),
         "GET", "/v2/users", json_response(200, page_json("users", [user_json(1), user_json(2)])),
         query={"is_active": "true", "updated_since": "2024-01-01T10:30:00Z"},
         check=lambda r: [u.id for u in r] == [1, 2] and isinstance(r[0], User)),
    Case("user_pages", lambda h: collect(h.user_pages(is_active=False, per_page=50)),
         "GET", "/v2/users", json_response(200, page_json("users", [user_json()], per_page=50)),
         query={"is_active": "false", "per_page": "50"},
         check=lambda r: r[0].per_page == 50 and r[0].next_url is None),
    Case("get_user", lambda h: h.get_user(5), "GET", "/v2/users/5",
         json_response(200, user_json(5)), check=lambda r: r.id == 5),
    Case("me", lambda h: h.me(), "GET", "/v2/users/me", json_response(200, user_json(8)),
         check=lambda r: r.id == 8),
    Case("create_user",
         lambda h: h.create_user(UserCreate(
             first_name="Jane", last_name="Doe", email="jane@example.com",
             timezone="America/New_York", weekly_capacity_hours=35,
             access_roles=["manager", "project_creator"], default_hourly_rate=Decimal("100"))),
         "POST", "/v2/users", json_response(201, user_json(9)),
         body={"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
               "timezone": "Eastern Time (US & Canada)", "weekly_capacity": 126000,
               "access_roles": ["manager", "project_creator"], "default_hourly_rate": 100.0},
         check=lambda r: r.id == 9),
    Case("update_user", lambda h: h.update_user(5, {"first_name": "Janet", "roles": ["Dev"]}),
         "PATCH", "/v2/users/5", json_response(200, user_json(5, first_name="Janet")),
         body={"first_name": "Janet", "roles": ["Dev"]}, check=lambda r: r.first_name == "Janet"),
    Case("archive_user", lambda h: h.archive_user(5), "PATCH", "/v2/users/5",
         json_response(200, user_json(5, is_active=False)), body={"is_active": False},
         check=lambda r: r.is_active is False),
    Case("restore_user", lambda h: h.restore_user(5), "PATCH", "/v2/users/5",
         json_response(200, user_json(5)), body={"is_active": True}),
    Case("delete_user (JSON body, 2019)", lambda h: h.delete_user(5), "DELETE", "/v2/users/5",
         json_response(200, user_json(5)), check=lambda r: r is None),
    Case("delete_user (empty body)", lambda h: h.delete_user(5), "DELETE", "/v2/users/5",
         httpx.Response(200), check=lambda r: r is None),
    # §7.1 teammates
    Case("list_teammates", lambda h: collect(h.list_teammates(7)), "GET", "/v2/users/7/teammates",
         json_response(200, page_json("teammates", [teammate_json(2)], per_page=100)),
         check=lambda r: isinstance(r[0], Teammate) and r[0].id == 2),
    Case("set_teammates", lambda h: h.set_teammates(7, [2, 3]), "PATCH", "/v2/users/7/teammates",
         json_response(200, {"teammates": [teammate_json(2), teammate_json(3)]}),
         body={"teammate_ids": [2, 3]}, check=lambda r: [t.id for t in r] == [2, 3]),
    Case("set_teammates (clear)", lambda h: h.set_teammates(7, []), "PATCH",
         "/v2/users/7/teammates", json_response(200, {"teammates": []}),
         body={"teammate_ids": []}, check=lambda r: r == []),
    # §7.2 rates
    Case("list_billable_rates", lambda h: collect(h.list_billable_rates(5)), "GET",
         "/v2/users/5/billable_rates",
         json_response(200, page_json("billable_rates", [rate_json(9), rate_json(10, None)])),
         check=lambda r: isinstance(r[0], Rate) and r[1].amount is None),
    Case("get_billable_rate", lambda h: h.get_billable_rate(5, 9), "GET",
         "/v2/users/5/billable_rates/9", json_response(200, rate_json(9)),
         check=lambda r: r.amount == Decimal("120.5")),
    Case("create_billable_rate", lambda h: h.create_billable_rate(5, Decimal("120.5"), dt.date(2024, 1, 1)),
         "POST", "/v2/users/5/billable_rates", json_response(201, rate_json(9)),
         body={"amount": 120.5, "start_date": "2024-01-01"}),
    Case("list_cost_rates", lambda h: collect(h.list_cost_rates(5)), "GET", "/v2/users/5/cost_rates",
         json_response(200, page_json("cost_rates", [rate_json(4)])),
         check=lambda r: r[0].id == 4),
    Case("get_cost_rate", lambda h: h.get_cost_rate(5, 4), "GET", "/v2/users/5/cost_rates/4",
         json_response(200, rate_json(4))),
    Case("create_cost_rate", lambda h: h.create_cost_rate(5, 50), "POST",
         "/v2/users/5/cost_rates", json_response(201, rate_json(4)), body={"amount": 50.0}),
    # §7.3 user project assignments
    Case("list_project_assignments", lambda h: collect(h.list_project_assignments(5, updated_since=SINCE)),
         "GET", "/v2/users/5/project_assignments",
         json_response(200, page_json("project_assignments", [project_assignment_json()])),
         query={"updated_since": "2024-01-01T10:30:00Z"},
         check=lambda r: isinstance(r[0], ProjectAssignment) and r[0].task_assignments[0].task.id == 2),
    Case("list_project_assignments (me)", lambda h: collect(h.list_project_assignments("me")),
         "GET", "/v2/users/me/project_assignments",
         json_response(200, page_json("project_assignments", [project_assignment_json()])),
         check=lambda r: len(r) == 1),
    # §7.4 project user assignments
    Case("list_user_assignments",
         lambda h: collect(h.list_user_assignments(user_id=5, is_active=False, updated_since=SINCE)),
         "GET", "/v2/user_assignments",
         json_response(200, page_json("user_assignments", [user_assignment_json()])),
         query={"user_id": "5", "is_active": "false", "updated_since": "2024-01-01T10:30:00Z"},
         check=lambda r: isinstance(r[0], UserAssignment)),
    Case("list_project_user_assignments",
         lambda h: collect(h.list_project_user_assignments(10, is_active=True)),
         "GET", "/v2/projects/10/user_assignments",
         json_response(200, page_json("user_assignments", [user_assignment_json()])),
         query={"is_active": "true"}, check=lambda r: r[0].project.id == 10),
    Case("get_project_user_assignment", lambda h: h.get_project_user_assignment(10, 3), "GET",
         "/v2/projects/10/user_assignments/3", json_response(200, user_assignment_json()),
         check=lambda r: r.id == 3),
    Case("create_project_user_assignment",
         lambda h: h.create_project_user_assignment(10, {"user_id": 5, "hourly_rate": "100"}),
         "POST", "/v2/projects/10/user_assignments", json_response(201, user_assignment_json()),
         body={"user_id": 5, "hourly_rate": 100.0}),
    Case("update_project_user_assignment",
         lambda h: h.update_project_user_assignment(
             10, 3, UserAssignmentUpdate(is_active=False, budget=None)),
         "PATCH", "/v2/projects/10/user_assignments/3", json_response(200, user_assignment_json()),
         body={"is_active": False, "budget": None}),
    Case("delete_project_user_assignment", lambda h: h.delete_project_user_assignment(10, 3),
         "DELETE", "/v2/projects/10/user_assignments/3", httpx.Response(200)),
    # §7.5 roles
    Case("list_roles", lambda h: collect(h.list_roles()), "GET", "/v2/roles",
         json_response(200, page_json("roles", [role_json(3), role_json(4, "Ops")])),
         check=lambda r: [x.name for x in r] == ["Engineering", "Ops"] and isinstance(r[0], Role)),
    Case("role_pages", lambda h: collect(h.role_pages(per_page=10)), "GET", "/v2/roles",
         json_response(200, page_json("roles", [role_json()], per_page=10)),
         query={"per_page": "10"}, check=lambda r: len(r[0].items) == 1),
    Case("get_role", lambda h: h.get_role(3), "GET", "/v2/roles/3", json_response(200, role_json())),
    Case("create_role", lambda h: h.create_role("Engineering", [1, 2]), "POST", "/v2/roles",
         json_response(201, role_json(user_ids=[1, 2])),
         body={"name": "Engineering", "user_ids": [1, 2]}, check=lambda r: r.user_ids == [1, 2]),
    Case("create_role (no users)", lambda h: h.create_role("Ops"), "POST", "/v2/roles",
         json_response(201, role_json(name="Ops", user_ids=[])), body={"name": "Ops", "user_ids": []}),
    Case("update_role", lambda h: h.update_role(3, user_ids=[]), "PATCH", "/v2/roles/3",
         json_response(200, role_json(user_ids=[])), body={"user_ids": []}),
    Case("update_role (rename)", lambda h: h.update_role(3, name="Eng"), "PATCH", "/v2/roles/3",
         json_response(200, role_json(name="Eng")), body={"name": "Eng"}),
    Case("delete_role", lambda h: h.delete_role(3), "DELETE", "/v2/roles/3", httpx.Response(200)),
    # §7.6 company
    Case("get_company", lambda h: h.get_company(), "GET", "/v2/company",
         json_response(200, company_json()), check=lambda r: isinstance(r, Company)),
    Case("update_company", lambda h: h.update_company(weekly_capacity=144000), "PATCH",
         "/v2/company", json_response(200, company_json(weekly_capacity=144000)),
         body={"weekly_capacity": 144000}, check=lambda r: r.weekly_capacity == 144000),
    Case("update_company (timers)", lambda h: h.update_company(wants_timestamp_timers=True),
         "PATCH", "/v2/company", json_response(200, company_json(wants_timestamp_timers=True)),
         body={"wants_timestamp_timers": True}),
    # generic escape hatch, e.g. the reports API
    Case("request", lambda h: h.request("GET", "/reports/time/team", params={"from": "20240101"}),
         "GET", "/v2/reports/time/team", json_response(200, {"results": []}),
         query={"from": "20240101"}, check=lambda r: r == {"results": []}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_endpoint_sends_the_documented_request(case: Case) -> None:
    fake = FakeHarvest().on(case.method, case.path, case.answer)
    async with make_client(fake) as harvest:
        result = await case.call(harvest)
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request.method == case.method
    assert str(request.url).startswith(BASE.replace("/v2", "") + case.path)
    assert dict(request.url.params) == case.query
    # §1: the three required headers on every call to the API.
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Harvest-Account-Id"] == str(ACCOUNT)
    assert request.headers["User-Agent"] == UA
    if case.body is None:
        assert request.content == b""
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == case.body
    assert case.check(result), result


async def test_identity_keeps_harvest_accounts_and_sends_no_account_header() -> None:
    answer = {"user": {"id": 1, "first_name": "J", "last_name": "D", "email": "j@example.com"},
              "accounts": [{"id": 11, "name": "ACME", "product": "harvest",
                            "google_sign_in_required": False},
                           {"id": 12, "name": "ACME", "product": "forecast"}]}
    fake = FakeHarvest().on("GET", "/api/v2/accounts", answer)
    # No account id configured: picking one is what this endpoint is for (§5.3).
    async with make_client(fake, account_id=None) as harvest:
        identity = await harvest.get_identity()
        everything = await harvest.get_identity(harvest_only=False)
        accounts = [a async for a in harvest.list_accounts()]
        listed_all = [a async for a in harvest.list_accounts(harvest_only=False)]
    assert isinstance(identity, IdentityAccounts)
    assert identity.user.email == "j@example.com"
    assert [a.id for a in identity.accounts] == [11]
    assert [a.product for a in everything.accounts] == ["harvest", "forecast"]
    assert accounts == identity.accounts
    assert listed_all == everything.accounts
    request = fake.requests[0]
    assert str(request.url) == f"{ID_URL}/api/v2/accounts"
    assert "Harvest-Account-Id" not in request.headers
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"] == UA


async def test_find_user_by_email_reads_every_page_case_insensitively() -> None:
    second = f"{BASE}/users?cursor=abc&per_page=2000&ref=next_cursor"
    archived = user_json(2, "Jane.Doe@Example.com", is_active=False)
    fake = FakeHarvest().on(
        "GET", "/v2/users",
        lambda r: json_response(200, page_json("users", [user_json(1, "a@example.com")], next_url=second))
        if "cursor" not in r.url.params
        else json_response(200, page_json("users", [archived], page=None)),
    )
    async with make_client(fake) as harvest:
        found = await harvest.find_user_by_email("jane.doe@example.COM")
        missing = await harvest.find_user_by_email("nobody@example.com")
    assert found is not None
    assert found.id == 2
    assert missing is None


async def test_me_project_assignments_refuses_updated_since_before_sending() -> None:
    fake = FakeHarvest()
    async with make_client(fake) as harvest:
        with pytest.raises(InvalidRequestError, match="updated_since"):
            await collect(harvest.list_project_assignments("me", updated_since=SINCE))
    assert fake.requests == []


async def test_naive_updated_since_is_refused() -> None:
    async with make_client(FakeHarvest()) as harvest:
        with pytest.raises(InvalidRequestError, match="time zone"):
            await collect(harvest.list_users(updated_since=dt.datetime(2024, 1, 1)))
        # A string is accepted when it is an aware ISO 8601 datetime, and sent with Z (gotcha 8).
        fake = FakeHarvest().on("GET", "/v2/users", page_json("users", []))
    async with make_client(fake) as harvest:
        await collect(harvest.list_users(updated_since="2024-03-01T00:00:00+01:00"))
    assert fake.requests[0].url.params["updated_since"] == "2024-02-29T23:00:00Z"
