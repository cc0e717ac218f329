"""The roster on a Greenhouse connection, what only Greenhouse's has: its column set (bad rows by
line, Harvest's columns refused) and a create whose email Greenhouse already has adopting that
user. Plan, apply, re-apply and the prune guards (the acting user never deactivated) are the
shared conformance tests (tests/provision/test_cli_roster.py, tests/roster/test_plan.py, with
``provider_cli``), run for Greenhouse too. Real SQLite and PostgreSQL, the Greenhouse sandbox
in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from thresher.provision import (
    RosterError,
    apply_greenhouse_plan,
    load_greenhouse_roster,
    make_greenhouse_plan,
)
from thresher.store import Store

from .conftest import Target
from .provider_harness import GreenhouseSite, save_site


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHER_SECRET_KEY", "greenhouse-roster-tests-secret")
    monkeypatch.setenv("GREENHOUSE_RATE_LIMIT", "10000/1s")
    monkeypatch.delenv("GREENHOUSE_SUB", raising=False)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def _synced(target: Target, store: Store) -> GreenhouseSite:
    site = save_site(target, store)
    await site.sync()
    return site


def test_a_greenhouse_roster_refuses_harvest_columns_by_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "r.csv",
        [
            "email,first_name,last_name,employee_id,active",
            "a@example.com,A,One,E1,true",
            "not-an-email,B,Two,,",
            "c@example.com,C,,E3,",
        ],
    )
    with pytest.raises(RosterError) as info:
        load_greenhouse_roster(path)
    assert [line for line, _ in info.value.problems] == [3, 4]
    harvest_cols = _write(
        tmp_path / "h.csv", ["email,first_name,last_name,timezone", "a@example.com,A,B,UTC"]
    )
    with pytest.raises(RosterError) as info:
        load_greenhouse_roster(harvest_cols)
    assert "timezone" in str(info.value)


async def test_a_create_whose_email_exists_adopts_that_user(
    asgi_target: Target, store: Store, tmp_path: Path
) -> None:
    site = await _synced(asgi_target, store)
    path = _write(
        tmp_path / "roster.csv", ["email,first_name,last_name,employee_id", "late@example.com,Late,Comer,E-1"]
    )
    plan = make_greenhouse_plan(store, site.connection_id, load_greenhouse_roster(path))
    async with site.open() as client:
        from thresher.greenhouse import UserCreate

        await client.create_user(UserCreate(first_name="Late", last_name="Comer", email="late@example.com"))
        applied = await apply_greenhouse_plan(client, store, store.get_connection("gh"), plan)
    assert applied == {"adopted": 1}
    found = [u for u in asgi_target.sandbox.state.users.values() if u.primary_email == "late@example.com"]
    assert len(found) == 1
    assert found[0].employee_id == "E-1"
