"""Strict request models (§6.3, §6.4, §7.2): validated before anything is sent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from thresher.harvest import (
    InvalidRequestError,
    RateCreate,
    RoleUpdate,
    UserAssignmentCreate,
    UserAssignmentUpdate,
    UserCreate,
    UserUpdate,
    hours_to_seconds,
)

from .fakes import FakeHarvest, make_client

JANE = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com"}


def test_weekly_capacity_hours_become_seconds() -> None:
    assert UserCreate(**JANE, weekly_capacity_hours=35).to_json()["weekly_capacity"] == 126000
    body = UserUpdate(weekly_capacity_hours=37.5).to_json()
    assert body == {"weekly_capacity": 135000}
    assert hours_to_seconds("7.5") == 27000


@pytest.mark.parametrize("fields", [{"weekly_capacity_hours": 37.25}, {"weekly_capacity": 1000},
                                    {"weekly_capacity": -1800}, {"weekly_capacity_hours": 200},
                                    {"weekly_capacity": 126000, "weekly_capacity_hours": 35}])
def test_weekly_capacity_must_be_half_hour_steps_in_a_week(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        UserUpdate.model_validate(fields)


@pytest.mark.parametrize(
    ("roles", "ok"),
    [(["member"], True), (["manager", "project_creator", "estimates_manager"], True),
     (["administrator"], True), (["people_manager", "manager"], False),
     (["member", "project_creator"], False), (["manager", "administrator"], False),
     ([], False), (["owner"], False)],
)
def test_access_roles(roles: list[str], ok: bool) -> None:
    if ok:
        assert UserCreate(**JANE, access_roles=roles).to_json()["access_roles"][0] == roles[0]
    else:
        with pytest.raises(ValidationError, match=r"access|role"):
            UserCreate(**JANE, access_roles=roles)


@pytest.mark.parametrize("email", ["not-an-email", "jane@", "@example.com", "jane doe@example.com"])
def test_email_syntax(email: str) -> None:
    with pytest.raises(ValidationError):
        UserCreate(first_name="J", last_name="D", email=email)


@pytest.mark.parametrize(
    ("given", "sent"),
    [("America/New_York", "Eastern Time (US & Canada)"),
     ("Eastern Time (US & Canada)", "Eastern Time (US & Canada)"),
     ("Europe/London", "London"), ("tokyo", "Tokyo")],
)
def test_timezone_accepts_iana_or_harvest_names(given: str, sent: str) -> None:
    assert UserUpdate(timezone=given).to_json() == {"timezone": sent}


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        UserUpdate(timezone="Mars/Olympus_Mons")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        UserCreate.model_validate({**JANE, "is_admin": True})


@pytest.mark.parametrize("field", ["default_hourly_rate", "cost_rate"])
def test_patch_refuses_rates_removed_from_the_docs(field: str) -> None:
    with pytest.raises(ValidationError, match="create_billable_rate"):
        UserUpdate.model_validate({field: 100})


def test_create_keeps_rates() -> None:
    body = UserCreate(**JANE, default_hourly_rate=Decimal("95.5"), cost_rate=Decimal(40)).to_json()
    assert body["default_hourly_rate"] == 95.5
    assert body["cost_rate"] == 40.0


def test_update_sends_only_fields_set() -> None:
    assert UserUpdate(last_name="Smith").to_json() == {"last_name": "Smith"}
    assert UserUpdate().to_json() == {}
    assert RoleUpdate(user_ids=[]).to_json() == {"user_ids": []}


def test_rate_start_date_not_in_the_future() -> None:
    today = dt.datetime.now(dt.UTC).date()
    assert RateCreate(amount=Decimal(5), start_date=today).to_json() == {
        "amount": 5.0, "start_date": today.isoformat()}
    with pytest.raises(ValidationError, match="future"):
        RateCreate(amount=Decimal(5), start_date=today + dt.timedelta(days=2))
    with pytest.raises(ValidationError):
        RateCreate(amount=Decimal(-1))


def test_assignment_budget_null_only_when_asked() -> None:
    assert UserAssignmentUpdate(is_active=True).to_json() == {"is_active": True}
    assert UserAssignmentUpdate(budget=None).to_json() == {"budget": None}
    assert UserAssignmentCreate(user_id=5).to_json() == {"user_id": 5}
    with pytest.raises(ValidationError):
        UserAssignmentCreate(user_id=0)


async def test_client_refuses_invalid_input_without_sending() -> None:
    fake = FakeHarvest()
    async with make_client(fake) as harvest:
        with pytest.raises(InvalidRequestError, match="email") as info:
            await harvest.create_user({"first_name": "J", "last_name": "D", "email": "nope"})
        assert info.value.hint is not None
        assert "nothing was sent" in info.value.hint
        with pytest.raises(InvalidRequestError, match="people_manager"):
            await harvest.update_user(5, {"access_roles": ["manager", "people_manager"]})
        with pytest.raises(InvalidRequestError, match="future"):
            await harvest.create_billable_rate(5, 10, dt.date.today() + dt.timedelta(days=3))
        with pytest.raises(InvalidRequestError):
            await harvest.update_company(weekly_capacity=1234)
        with pytest.raises(InvalidRequestError):
            await harvest.create_role("   ")
    assert fake.requests == []
