"""plan as terraform's: the mirror's age and refresh, exit codes, +/- membership, safe prune. The
prune guards and exit codes run for a Harvest and a Greenhouse connection (``provider_cli``);
roles and deletions are Harvest's (docs/greenhouse.md §6, "Roster")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thresher.sandbox import SandboxConfig

from ._harvest import harvest, requests, writes
from .conftest import Cli, ProviderCli

HEADER = "email,first_name,last_name,roles,active\n"


@pytest.fixture
def sandbox_for_cli() -> SandboxConfig:
    return SandboxConfig(users=30, seed=11, rate_limit=None)


def _active(cli: Cli) -> list[tuple[int, str, str, str]]:
    owner = cli.sandbox.user_for_token(cli.sandbox.credentials.admin_token)
    assert owner is not None
    return sorted(
        (u.id, u.email, u.first_name, u.last_name)
        for u in cli.sandbox.state.users.values() if u.is_active and u.id != owner.id
    )


def _keep(cli: Cli, path: Path, users: list[tuple[int, str, str, str]]) -> None:
    path.write_text(HEADER + "".join(f"{e},{f},{last},,\n" for _, e, f, last in users))


def _keep_rows(cli: ProviderCli, path: Path, users: list[tuple[int, str, str, str]]) -> None:
    path.write_text(cli.header + "".join(f"{e},{f},{last},,\n" for _, e, f, last in users))


# -- conformance: the same tests on a Harvest and a Greenhouse connection (``provider_cli``) ----


@pytest.mark.parametrize("content", ["", "header", "header\n\n"])
def test_prune_refuses_an_empty_or_header_only_file(
    provider_cli: ProviderCli, tmp_path: Path, content: str
) -> None:
    cli = provider_cli
    cli("sync")
    path = tmp_path / "export.csv"
    path.write_text(content.replace("header", cli.header.rstrip("\n")))
    before, active = cli.requests(), cli.active()
    for command in (["plan", str(path), "--prune"], ["apply", str(path), "--prune", "--yes"]):
        result = cli(*command, ok=False)
        assert result.exit_code == 1, result.stderr
        assert "lists nobody" in result.stderr
        assert cli.archive not in result.stdout
    assert cli.writes(before) == []
    assert cli.active() == active


def test_a_prune_archiving_40_percent_refuses_unless_raised(
    provider_cli: ProviderCli, tmp_path: Path
) -> None:
    cli = provider_cli
    cli("sync")
    active = cli.active()
    kept = active[: len(active) * 6 // 10]
    archived = len(active) - len(kept)
    assert archived > 10  # more than the default limit (10 for up to 100 active users)
    path = tmp_path / "roster.csv"
    _keep_rows(cli, path, kept)
    before = cli.requests()
    refused = cli("plan", str(path), "--prune", ok=False)
    assert refused.exit_code == 1
    assert f"would {cli.archive} {archived} of" in refused.stderr
    assert f"--max-archive {archived}" in refused.stderr
    refused = cli("apply", str(path), "--prune", "--yes", ok=False)
    assert refused.exit_code == 1
    assert cli.writes(before) == []
    assert cli("plan", str(path), "--prune", "--max-archive", str(archived - 1), ok=False).exit_code == 1
    plan = cli.json("plan", str(path), "--prune", "--max-archive", str(archived))
    assert plan["counts"] == {cli.archive: archived}
    applied = cli.json("apply", str(path), "--prune", "--yes", "--max-archive", str(archived))
    assert applied["applied"] == {cli.archive: archived}
    assert cli.active() == kept
    assert cli.is_active(cli.owner_id)


def test_detailed_exitcode(provider_cli: ProviderCli, tmp_path: Path) -> None:
    cli = provider_cli
    cli("sync")
    same = tmp_path / "same.csv"
    _keep_rows(cli, same, cli.active()[:3])
    assert cli("plan", str(same), "--detailed-exitcode").exit_code == 0
    new = tmp_path / "new.csv"
    new.write_text(cli.header + "new@example.com,New,Person,,\n")
    assert cli("plan", str(new), "--detailed-exitcode", ok=False).exit_code == 2
    assert cli("plan", str(new), "--json", "--detailed-exitcode", ok=False).exit_code == 2
    bad = tmp_path / "bad.csv"
    bad.write_text(cli.header + "not-an-email,A,B,,\n")
    assert cli("plan", str(bad), "--detailed-exitcode", ok=False).exit_code == 1
    assert cli("plan", str(bad), ok=False).exit_code == 2  # without it, a bad file is a usage error


# -- Harvest only: a user deleted behind the mirror (Greenhouse deletes nobody), roles ---------


def test_an_archive_of_a_user_deleted_in_harvest_records_it_and_goes_on(cli: Cli, tmp_path: Path) -> None:
    # A user without time, so Harvest lets it be deleted (gotcha 5).
    gone_id = harvest(cli, "POST", "/users", {
        "email": "gone@example.com", "first_name": "G", "last_name": "One"}).json()["id"]
    cli("sync")
    other_id, *_ = _active(cli)[0]
    harvest(cli, "DELETE", f"/users/{gone_id}")  # behind the mirror's back
    path = tmp_path / "roster.csv"
    _keep(cli, path, [u for u in _active(cli) if u[0] not in (gone_id, other_id)])
    # The prune plans to archive both (the mirror still has the deleted user).
    result = cli.json("apply", str(path), "--yes", "--prune")
    assert result["applied"] == {"archive": 1, "gone": 1}
    assert not cli.sandbox.state.users[other_id].is_active
    with cli.store() as store:
        (conn,) = store.list_connections()
        mirrored = store.get_user(conn.id, gone_id, include_deleted=True)
    assert mirrored is not None
    assert mirrored.deleted_at is not None
    again = cli.json("apply", str(path), "--yes", "--prune")  # the re-run does not trip on a 404
    assert again["changes"] == []


def test_role_membership_is_shown_as_a_diff(cli: Cli, tmp_path: Path) -> None:
    cli("sync")
    roles = [r for r in cli.sandbox.state.roles.values() if len(r.user_ids) >= 2]
    role = roles[0]
    users = cli.sandbox.state.users
    member = users[role.user_ids[0]]
    outsider = next(u for u in users.values() if u.is_active
                    and not any(u.id in r.user_ids for r in cli.sandbox.state.roles.values()))
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + f"{outsider.email},{outsider.first_name},{outsider.last_name},{role.name},\n"
                    + f"{member.email},{member.first_name},{member.last_name},New Crew,\n")
    text = cli("plan", str(path)).stdout
    line = next(line for line in text.splitlines() if role.name in line)
    assert f"+{outsider.email}" in line
    assert f"-{member.email}" in line
    others = [users[u].email for u in role.user_ids[1:]]
    assert not any(email in line for email in others)  # never the whole list
    change = next(c for c in cli.json("plan", str(path))["changes"] if c["target"] == role.name)
    assert change["changes"]["members"] == {"add": [outsider.email], "remove": [member.email]}


def test_plan_shows_the_mirror_age_and_refreshes_a_stale_mirror(cli: Cli, tmp_path: Path) -> None:
    cli("sync")
    created = harvest(cli, "POST", "/users", {
        "email": "oob@example.com", "first_name": "Out", "last_name": "OfBand"}).json()
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "oob@example.com,Out,Renamed,,\n")
    before = requests(cli)
    stale = cli("plan", str(path), "--no-refresh")
    assert requests(cli) == before
    assert "Mirror synced" in stale.stderr
    assert "ago" in stale.stderr
    assert "create" in stale.stdout  # what the mirror knows: not what apply would do
    fresh_enough = cli.json("plan", str(path), "--refresh-after", "1h")
    assert fresh_enough["mirror"]["refreshed"] is False
    assert fresh_enough["mirror"]["age_s"] is not None
    assert requests(cli) == before

    refreshed = cli("plan", str(path), "--refresh-after", "0")
    assert "refreshing it first" in refreshed.stderr
    assert requests(cli) > before
    assert writes(cli, before) == []
    plan = cli.json("plan", str(path), "--refresh")
    assert plan["mirror"]["refreshed"] is True
    assert [(c["action"], c["user_id"]) for c in plan["changes"]] == [("update", created["id"])]
    assert json.dumps(plan["changes"][0]["changes"]) == json.dumps(
        {"last_name": {"from": "OfBand", "to": "Renamed"}})
