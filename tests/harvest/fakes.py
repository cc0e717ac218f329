"""Fakes for the Harvest client's unit tests: JSON shaped like docs/harvest-api.md, and a routed
``httpx.MockTransport`` handler that records every request (the only test seam, docs/architecture.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import httpx

from thresher.harvest import AsyncHarvest, LimiterRegistry, RetryPolicy

TOKEN = "pat-0123456789-secret-token"
ACCOUNT = 4242
UA = "thresher-tests (tests@example.com)"
BASE = "https://api.harvestapp.com/v2"
ID_URL = "https://id.getharvest.com"
FAST_RETRY = RetryPolicy(attempts=3, backoff_base=0.001, backoff_cap=0.005)
STAMP = "2024-01-01T00:00:00Z"

Responder = httpx.Response | dict[str, Any] | Exception | Callable[[httpx.Request], httpx.Response]


def user_json(user_id: int = 1, email: str = "jane@example.com", **fields: Any) -> dict[str, Any]:
    """A user as §6.2 describes it."""
    return {
        "id": user_id, "first_name": "Jane", "last_name": "Doe", "email": email, "telephone": "",
        "timezone": "Eastern Time (US & Canada)", "has_access_to_all_future_projects": False,
        "is_contractor": False, "is_active": True, "weekly_capacity": 126000,
        "default_hourly_rate": None, "cost_rate": None, "roles": [], "access_roles": ["member"],
        "avatar_url": "https://example.com/a.png", "created_at": STAMP, "updated_at": STAMP,
        **fields,
    }


def teammate_json(user_id: int = 2) -> dict[str, Any]:
    return {"id": user_id, "first_name": "Tim", "last_name": "Mate", "email": f"t{user_id}@example.com"}


def rate_json(rate_id: int = 9, amount: float | None = 120.5) -> dict[str, Any]:
    return {"id": rate_id, "amount": amount, "start_date": "2024-01-01", "end_date": None,
            "created_at": STAMP, "updated_at": STAMP}


def role_json(role_id: int = 3, name: str = "Engineering", user_ids: Iterable[int] = (1,)) -> dict[str, Any]:
    return {"id": role_id, "name": name, "user_ids": list(user_ids), "created_at": STAMP,
            "updated_at": STAMP}


def user_assignment_json(assignment_id: int = 3, project_id: int = 10, user_id: int = 5) -> dict[str, Any]:
    return {"id": assignment_id, "project": {"id": project_id, "name": "Site", "code": "S"},
            "user": {"id": user_id, "name": "Jane Doe"}, "is_active": True,
            "is_project_manager": False, "use_default_rates": True, "hourly_rate": None,
            "budget": None, "created_at": STAMP, "updated_at": STAMP}


def project_assignment_json(assignment_id: int = 30) -> dict[str, Any]:
    return {"id": assignment_id, "is_active": True, "is_project_manager": False,
            "use_default_rates": True, "hourly_rate": None, "budget": None, "created_at": STAMP,
            "updated_at": STAMP, "project": {"id": 10, "name": "Site", "code": "S"},
            "client": {"id": 7, "name": "ACME"},
            "task_assignments": [{"id": 1, "billable": True, "is_active": True, "hourly_rate": 1.5,
                                  "budget": None, "created_at": STAMP, "updated_at": STAMP,
                                  "task": {"id": 2, "name": "Design"}}]}


def company_json(**fields: Any) -> dict[str, Any]:
    return {"base_uri": "https://acme.harvestapp.com", "full_domain": "acme.harvestapp.com",
            "name": "ACME", "is_active": True, "week_start_day": "Monday",
            "wants_timestamp_timers": False, "time_format": "hours_minutes",
            "date_format": "%Y-%m-%d", "plan_type": "simple-v4", "clock": "24h",
            "currency_code_display": "iso_code_none", "currency_symbol_display": "symbol_before",
            "decimal_symbol": ".", "thousands_separator": ",", "color_scheme": "orange",
            "weekly_capacity": 126000, "expense_feature": True, "invoice_feature": True,
            "estimate_feature": True, "approval_feature": True, "team_feature": True, **fields}


def page_json(
    key: str,
    items: list[dict[str, Any]],
    *,
    next_url: str | None = None,
    page: int | None = 1,
    per_page: int = 2000,
    total_entries: int | None = None,
) -> dict[str, Any]:
    """A list envelope (§3): records under ``key`` plus counters and absolute ``links``."""
    return {
        key: items, "per_page": per_page, "total_pages": 1,
        "total_entries": len(items) if total_entries is None else total_entries,
        "next_page": None, "previous_page": None, "page": page,
        "links": {"first": f"{BASE}/x?page=1&per_page={per_page}&ref=first", "next": next_url,
                  "previous": None, "last": f"{BASE}/x?page=1&per_page={per_page}&ref=last"},
    }


def json_response(status: int, data: Any, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(data).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **headers},
    )


class FakeHarvest:
    """Routes ``(method, path)`` to queued answers and records what was sent, and when.

    An answer is an ``httpx.Response``, a dict (200 JSON), an exception to raise (a transport
    failure), or a callable. Each route plays its answers in order and repeats the last. An
    unrouted request fails the test.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self._routes: dict[tuple[str, str], list[Responder]] = {}

    def on(self, method: str, path: str, *answers: Responder) -> FakeHarvest:
        self._routes[(method, path)] = list(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        key = (request.method, request.url.path)
        answers = self._routes.get(key)
        if not answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        if isinstance(answer, dict):
            return json_response(200, answer)
        return answer(request)

    def sent(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        return [r for r in self.requests
                if (method is None or r.method == method) and (path is None or r.url.path == path)]

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def make_client(
    fake: FakeHarvest
    | Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]],
    *,
    registry: LimiterRegistry | None = None,
    retry: RetryPolicy = FAST_RETRY,
    **settings: Any,
) -> AsyncHarvest:
    """A client on the fake, with its own limiter registry unless one is given."""
    values: dict[str, Any] = {"access_token": TOKEN, "account_id": ACCOUNT, "user_agent": UA}
    values.update(settings)
    return AsyncHarvest(
        transport=httpx.MockTransport(fake),
        limiter_registry=registry or LimiterRegistry(),
        retry=retry,
        **values,
    )
