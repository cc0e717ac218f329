"""Saved plans on a Greenhouse connection (docs/greenhouse.md §6): ``thresher plan roster.csv -o
plan.json`` then ``thresher apply plan.json`` carries out exactly that plan, and only while
Greenhouse still matches what it was planned against; a plan made stale by a change out of band
is refused whole, naming what moved, with nothing written. The CLI in-process through ``main``,
the Greenhouse sandbox over real HTTP, a real SQLite store; the out-of-band changes are made
through the sandbox's API with another client, as another tool would."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from thresher.greenhouse import UserCreate, UserUpdate
from thresher.greenhouse_sandbox import GreenhouseSandboxConfig
from thresher.provision import (
    GREENHOUSE_BASIS,
    Plan,
    ProvisionError,
    SavedPlan,
    check_saved_plan,
    load_saved_plan,
)
from thresher.store import Store

from .conftest import Target
from .test_provider_cli import GreenhouseCli


@pytest.fixture
def gh_config() -> GreenhouseSandboxConfig:
    return GreenhouseSandboxConfig(users=12, seed=43, rate_limit=None)


@pytest.fixture
def gcli(live_target: Target, tmp_path: Path) -> GreenhouseCli:
    cli = GreenhouseCli(live_target, f"sqlite:///{tmp_path / 'thresher.db'}")
    cli.login()
    cli("sync")
    return cli


@dataclasses.dataclass
class Roster:
    path: Path
    plan: Path
    member_id: int
    member_email: str


def _roster(gcli: GreenhouseCli, tmp_path: Path) -> Roster:
    """A roster that gives one active user a job title and creates one new user."""
    state = gcli.target.sandbox.state
    member = next(
        u
        for u in state.users.values()
        if u.id != state.admin_id and u.primary_email and not u.deactivated and not u.service_account
    )
    assert member.primary_email is not None
    path = tmp_path / "roster.csv"
    path.write_text(
        "email,first_name,last_name,job_title\n"
        f"{member.primary_email},{member.first_name},{member.last_name},Staff Recruiter\n"
        "saved.hire@example.com,Saved,Hire,Sourcer\n"
    )
    return Roster(path, tmp_path / "plan.json", member.id, member.primary_email)


def _writes(gcli: GreenhouseCli, since: int) -> list[dict[str, Any]]:
    entries = list(gcli.target.sandbox.requests)
    return [
        r for r in entries if r["id"] > since and r["method"] in ("POST", "PATCH") and r["path"] != "/token"
    ]


def _last_id(gcli: GreenhouseCli) -> int:
    entries = list(gcli.target.sandbox.requests)
    return entries[-1]["id"] if entries else 0


def _out_of_band(gcli: GreenhouseCli, action: str, **fields: Any) -> None:
    async def go() -> None:
        async with gcli.target.client() as other:
            if action == "update":
                await other.update_user(fields.pop("user_id"), UserUpdate.model_validate(fields))
            else:
                await other.create_user(UserCreate.model_validate(fields))

    asyncio.run(go())


def test_an_unchanged_saved_plan_is_applied_exactly(gcli: GreenhouseCli, tmp_path: Path) -> None:
    roster = _roster(gcli, tmp_path)
    shown = gcli("plan", str(roster.path), "-o", str(roster.plan), "--json").json()
    assert shown["counts"] == {"create": 1, "update": 1}
    saved = json.loads(roster.plan.read_text())
    assert saved["provider"] == "greenhouse"
    assert saved["format"] == "thresher-plan/1"
    state = gcli.target.sandbox.state
    assert state.users[roster.member_id].job_title != "Staff Recruiter"  # a plan writes nothing

    applied = gcli("apply", str(roster.plan), "--json").json()  # reviewed already: no --yes
    assert applied["applied"] == {"create": 1, "update": 1}
    assert state.users[roster.member_id].job_title == "Staff Recruiter"
    hired = [u for u in state.users.values() if u.primary_email == "saved.hire@example.com"]
    assert [u.job_title for u in hired] == ["Sourcer"]
    listed = gcli("users", "list", "--email", "saved.hire@example.com", "--json").json()
    assert len(listed) == 1  # recorded in the mirror as it landed
    assert "No changes" in gcli("plan", str(roster.path)).stdout


def test_a_plan_made_stale_by_an_out_of_band_change_is_refused_whole(
    gcli: GreenhouseCli, tmp_path: Path
) -> None:
    roster = _roster(gcli, tmp_path)
    gcli("plan", str(roster.path), "-o", str(roster.plan))
    _out_of_band(gcli, "update", user_id=roster.member_id, first_name="Renamed")
    before = _last_id(gcli)

    refused = gcli("apply", str(roster.plan), ok=False)
    assert refused.exit_code == 1  # README: a stale saved plan
    assert "no longer matches Greenhouse, so nothing was applied" in refused.stderr
    assert roster.member_email in refused.stderr
    assert "Renamed" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _writes(gcli, before) == []  # not even the create, which nothing made stale
    state = gcli.target.sandbox.state
    assert state.users[roster.member_id].job_title != "Staff Recruiter"
    assert not [u for u in state.users.values() if u.primary_email == "saved.hire@example.com"]


def test_a_user_created_out_of_band_since_the_plan_makes_it_stale(
    gcli: GreenhouseCli, tmp_path: Path
) -> None:
    roster = _roster(gcli, tmp_path)
    gcli("plan", str(roster.path), "-o", str(roster.plan))
    _out_of_band(gcli, "create", email="saved.hire@example.com", first_name="Other", last_name="Tool")
    before = _last_id(gcli)

    refused = gcli("apply", str(roster.plan), ok=False)
    assert refused.exit_code == 1
    assert "saved.hire@example.com: created in Greenhouse since the plan" in refused.stderr
    assert _writes(gcli, before) == []


def test_a_saved_plan_with_prune_is_a_usage_error(gcli: GreenhouseCli, tmp_path: Path) -> None:
    roster = _roster(gcli, tmp_path)
    gcli("plan", str(roster.path), "-o", str(roster.plan))
    result = gcli("apply", str(roster.plan), "--prune", ok=False)
    assert result.exit_code == 2
    assert "--prune" in result.stderr


def test_a_greenhouse_plan_is_only_applied_on_its_own_connection(gcli: GreenhouseCli, tmp_path: Path) -> None:
    roster = _roster(gcli, tmp_path)
    gcli("plan", str(roster.path), "-o", str(roster.plan))
    saved = load_saved_plan(roster.plan)
    assert saved.provider == GREENHOUSE_BASIS.provider
    with Store.open(gcli.database_url) as store:
        harvest = store.add_connection("acme", 1)
        with pytest.raises(ProvisionError, match="planned on a Greenhouse connection"):
            check_saved_plan(store, harvest, saved, "plan.json")
        other = dataclasses.replace(store.get_connection("gh"), name="gh-other")
        with pytest.raises(ProvisionError, match="planned on the connection gh, not on gh-other"):
            check_saved_plan(store, other, saved, "plan.json")
        # A Harvest plan (no provider key in its file) is refused on a Greenhouse connection.
        harvest_plan = SavedPlan(Plan([]), "acme", 1, "2026-12-01T00:00:00+00:00", None, {})
        with pytest.raises(ProvisionError, match="planned on a Harvest connection"):
            check_saved_plan(store, store.get_connection("gh"), harvest_plan, "plan.json")
