"""plan -o PLAN.json, then apply PLAN.json: exactly the plan, and only while Harvest matches."""

from __future__ import annotations

import json
from pathlib import Path

from ._harvest import harvest, requests, writes
from .conftest import Cli

HEADER = "email,first_name,last_name,roles\n"


def _file(cli: Cli, tmp_path: Path) -> tuple[Path, int]:
    cli("sync")
    member = next(u for u in cli.sandbox.state.users.values() if u.is_active and u.access_roles == ["member"])
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + f"{member.email},{member.first_name},Planned,Crew\n"
                    + "new@example.com,New,Person,Crew\n")
    return path, member.id


def test_a_saved_plan_applies_as_planned(cli: Cli, tmp_path: Path) -> None:
    path, member_id = _file(cli, tmp_path)
    saved = tmp_path / "plan.json"
    shown = cli.json("plan", str(path), "-o", str(saved))
    data = json.loads(saved.read_text())
    assert data["format"] == "thresher-plan/1"
    assert data["basis"]["users"][str(member_id)]["fields"]["last_name"] != "Planned"
    assert "updated_at" in data["basis"]["users"][str(member_id)]
    assert data["basis"]["free_emails"] == ["new@example.com"]
    applied = cli.json("apply", str(saved))  # reviewed already: no --yes needed
    assert applied["counts"] == shown["counts"]
    assert applied["applied"] == shown["counts"]
    assert cli.sandbox.state.users[member_id].last_name == "Planned"
    assert "new@example.com" in cli.users_by_email()
    # Carried out, the plan is stale: applying it again is refused, never repeated.
    before = requests(cli)
    again = cli("apply", str(saved), ok=False)
    assert again.exit_code == 1
    assert "no longer matches Harvest" in again.stderr
    assert writes(cli, before) == []


def test_a_saved_plan_is_refused_when_harvest_moved(cli: Cli, tmp_path: Path) -> None:
    path, member_id = _file(cli, tmp_path)
    saved = tmp_path / "plan.json"
    cli("plan", str(path), "-o", str(saved))
    member = cli.sandbox.state.users[member_id]
    harvest(cli, "PATCH", f"/users/{member_id}", {"first_name": "Moved"})
    harvest(cli, "POST", "/users", {"email": "NEW@example.com", "first_name": "N", "last_name": "P"})
    before, outbox = requests(cli), len(cli.sandbox.state.outbox)
    refused = cli("apply", str(saved), ok=False)
    assert refused.exit_code == 1
    assert f"{member.email}: first_name" in refused.stderr
    assert "'Moved'" in refused.stderr
    assert "new@example.com: created in Harvest since the plan" in refused.stderr
    assert "Unexpected" not in refused.stderr
    assert writes(cli, before) == []
    assert len(cli.sandbox.state.outbox) == outbox
    assert cli.sandbox.state.users[member_id].last_name != "Planned"


def test_a_roster_file_is_not_a_saved_plan(cli: Cli, tmp_path: Path) -> None:
    bogus = tmp_path / "roster.json"
    bogus.write_text('{"users": []}')
    result = cli("apply", str(bogus), ok=False)
    assert result.exit_code == 1
    assert "not a saved plan" in result.stderr
