"""The roster on a Greenhouse connection: a file with Greenhouse's column set is planned against
the mirror (no request) and applied through the client, every write recorded in the mirror; the
same guards as Harvest's roster (bad rows by line, prune limits, the acting user never
deactivated). Real SQLite and PostgreSQL, the Greenhouse sandbox in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from thresher.provision import (
    PruneRefusedError,
    RosterError,
    apply_greenhouse_plan,
    load_greenhouse_roster,
    make_greenhouse_plan,
)
from thresher.store import Store, greenhouse_fields

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


async def test_plan_and_apply_create_update_activate_and_deactivate(
    asgi_target: Target, store: Store, tmp_path: Path
) -> None:
    site = await _synced(asgi_target, store)
    state = asgi_target.sandbox.state
    live = [u for u in state.users.values() if not u.service_account and u.primary_email]
    active = [u for u in live if not u.deactivated and u.id != state.admin_id]
    inactive = next(u for u in live if u.deactivated)
    rename, leave = active[0], active[1]
    path = _write(
        tmp_path / "roster.csv",
        [
            "email,first_name,last_name,employee_id,job_title,active",
            "new.hire@example.com,New,Hire,E-9,Recruiter,true",
            f"{rename.primary_email},Renamed,{rename.last_name},E-77,,",
            f"{inactive.primary_email},{inactive.first_name},{inactive.last_name},,,true",
            f"{leave.primary_email},{leave.first_name},{leave.last_name},,,false",
        ],
    )
    rows = load_greenhouse_roster(path)
    requests_before = len(asgi_target.sandbox.requests)
    plan = make_greenhouse_plan(store, site.connection_id, rows, own_user_id=state.admin_id)
    assert len(asgi_target.sandbox.requests) == requests_before  # planning reads the mirror only
    assert plan.counts() == {"create": 1, "update": 1, "activate": 1, "deactivate": 1}
    async with site.open() as client:
        applied = await apply_greenhouse_plan(client, store, store.get_connection("gh"), plan)
    assert applied == {"create": 1, "update": 1, "activate": 1, "deactivate": 1}
    # Greenhouse now matches, and so does the mirror, without a sync.
    assert state.users[rename.id].first_name == "Renamed"
    assert state.users[rename.id].employee_id == "E-77"
    assert not state.users[inactive.id].deactivated
    assert state.users[leave.id].deactivated
    assert not asgi_target.sandbox.state.outbox  # no invitation email
    again = make_greenhouse_plan(store, site.connection_id, rows, own_user_id=state.admin_id)
    assert not again, again.as_dict()
    created = store.find_user_by_email(site.connection_id, "new.hire@example.com")
    assert created is not None
    assert (
        greenhouse_fields(store, site.connection_id, [created.harvest_id])[created.harvest_id]["job_title"]
        == "Recruiter"
    )
    write_events = [e for e in store.list_events(site.connection_id) if e.source == "write"]
    assert {e.kind for e in write_events} >= {"created", "updated", "restored", "archived"}


async def test_prune_is_guarded_and_spares_the_acting_user(
    asgi_target: Target, store: Store, tmp_path: Path
) -> None:
    site = await _synced(asgi_target, store)
    state = asgi_target.sandbox.state
    admin = state.users[state.admin_id]
    path = _write(
        tmp_path / "roster.csv",
        [
            "email,first_name,last_name",
            f"{admin.primary_email},{admin.first_name},{admin.last_name}",
        ],
    )
    rows = load_greenhouse_roster(path)
    with pytest.raises(PruneRefusedError) as info:
        make_greenhouse_plan(store, site.connection_id, rows, prune=True, own_user_id=state.admin_id)
    assert "--max-archive" in (info.value.hint or "")
    plan = make_greenhouse_plan(
        store, site.connection_id, rows, prune=True, own_user_id=state.admin_id, max_archive=1000
    )
    targets = {c.user_id for c in plan.changes if c.action == "deactivate"}
    assert state.admin_id not in targets
    assert targets
    with pytest.raises(PruneRefusedError):
        make_greenhouse_plan(store, site.connection_id, [], prune=True)


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
