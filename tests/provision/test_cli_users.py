"""Everyday operations end to end: the CLI against a sandbox over HTTP."""

from __future__ import annotations

import re

import httpx
import pytest

from .conftest import Cli


def test_create_update_archive_restore_delete_a_user(cli: Cli) -> None:
    created = cli.json(
        "users", "create", "--email", "ada@example.com", "--first-name", "Ada",
        "--last-name", "Lovelace", "--access-roles", "manager,project_creator",
        "--timezone", "Europe/London", "--capacity-hours", "32",
    )
    assert created["access_roles"] == ["manager", "project_creator"]
    assert created["weekly_capacity"] == 32 * 3600
    assert [m.to for m in cli.sandbox.state.outbox] == ["ada@example.com"]

    result = cli("users", "update", "ADA@example.com", "--last-name", "King")
    assert "Ada King <ada@example.com>" in result.stdout
    # The mirror answers at once (write-through), without a sync.
    shown = cli.json("users", "show", "ada@example.com")
    assert shown["last_name"] == "King"
    text = cli("users", "show", "ada@example.com").stdout
    assert re.search(r"^weekly capacity +32 h a week$", text, re.MULTILINE)
    assert re.search(r"^timezone +London \(Europe/London\)$", text, re.MULTILINE)
    assert re.search(r"^status +active$", text, re.MULTILINE)

    assert "Archived" in cli("users", "archive", "ada@example.com").stdout
    refused = cli("users", "update", "ada@example.com", "--first-name", "Augusta", ok=False)
    assert refused.exit_code == 1
    assert "archived" in refused.stderr
    assert "users restore" in refused.stderr
    cli("users", "restore", str(created["id"]))
    assert cli.json("users", "show", "ada@example.com")["is_active"] is True

    cli("users", "delete", "ada@example.com", "--yes")
    assert created["id"] not in cli.sandbox.state.users
    again = cli("users", "create", "--email", "bad-email", "--first-name", "A", "--last-name", "B", ok=False)
    assert again.exit_code != 0
    assert "email" in again.stderr


def test_users_unknown_to_the_mirror_are_found_by_listing(cli: Cli) -> None:
    # Someone adds a user in Harvest's own UI; the mirror has not synced it yet.
    creds = cli.sandbox.credentials
    headers = {
        "Authorization": f"Bearer {creds.admin_token}",
        "Harvest-Account-Id": str(creds.account_id),
        "User-Agent": "someone-else (x@example.com)",
    }
    made = httpx.post(
        f"{cli.running.api_url}/users", headers=headers,
        json={"first_name": "Out", "last_name": "Side", "email": "outside@example.com"},
    )
    assert made.status_code == 201
    archived = cli.json("users", "archive", "OUTSIDE@example.com")
    assert archived["id"] == made.json()["id"]
    assert archived["is_active"] is False
    missing = cli("users", "archive", "ghost@example.com", ok=False)
    assert missing.exit_code == 1
    assert "no Harvest user has the email 'ghost@example.com'" in missing.stderr


# -- joiners in one step (thresher.provision.onboard) ------------------------------------------

JOINER = ["users", "create", "--email", "joan@example.com", "--first-name", "Joan",
          "--last-name", "Clarke"]


def _posts(cli: Cli, path: str = "/v2/users") -> int:
    return sum(1 for r in cli.sandbox.state.request_log if r.method == "POST" and r.path == path)


def _manager(cli: Cli) -> int:
    state = cli.sandbox.state
    return next(u.id for u in state.users.values() if u.is_active and u.access_roles[0] == "manager")


def test_a_joiner_gets_roles_manager_projects_and_rates_with_one_invitation(cli: Cli) -> None:
    cli("sync")
    state = cli.sandbox.state
    role = next(iter(state.roles.values())).name
    manager = state.users[_manager(cli)]
    projects = sorted(state.projects)[:2]
    args = [*JOINER, "--role", role.upper(), "--manager", manager.email.upper(),
            *(a for p in projects for a in ("--project", str(p))),
            "--billable-rate", "150", "--cost-rate", "80.50"]
    created = cli.json(*args)
    uid = created["id"]
    assert [m.to for m in state.outbox] == ["joan@example.com"]
    assert _posts(cli) == 1
    assert created["roles"] == [role]  # the mirror's record, after every step
    assert (created["default_hourly_rate"], created["cost_rate"]) == ("150", "80.5")
    assert created == cli.json("users", "show", "joan@example.com")
    assert uid in state.teammates[manager.id]
    assert all(state.assignment_for(p, uid) is not None for p in projects)

    # The same command again: the user exists, so nothing is sent and nothing is written.
    writes_before = sum(1 for r in state.request_log if r.method != "GET")
    again = cli(*args)
    assert "already exists: no invitation sent" in again.stdout
    assert "done" not in again.stdout
    assert again.stdout.count("already") >= 1 + 1 + 1 + len(projects)
    assert sum(1 for r in state.request_log if r.method != "GET") == writes_before
    assert len(state.outbox) == 1


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--role", "No Such Role"], "no role is named 'No Such Role'"),
        (["--project", "999999999"], "there is no project 999999999"),
        (["--manager", "nobody@example.com"], "no Harvest user has the email"),
        (["--manager", "MEMBER"], "is not a manager"),
    ],
    ids=["role", "project", "manager-unknown", "manager-not-a-manager"],
)
def test_a_typo_is_caught_before_the_invitation(cli: Cli, extra: list[str], says: str) -> None:
    cli("sync")
    state = cli.sandbox.state
    if "MEMBER" in extra:
        member = next(u for u in state.users.values() if u.is_active and u.access_roles == ["member"])
        extra = [extra[0], member.email]
    refused = cli(*JOINER, *extra, ok=False)
    assert refused.exit_code == 1
    assert says in refused.stderr
    assert "nothing was created" in refused.stderr or "no Harvest user" in refused.stderr
    assert _posts(cli) == 0
    assert state.outbox == []


def test_a_failure_after_the_create_is_reported_and_a_rerun_completes_it(cli: Cli) -> None:
    cli("sync")
    state = cli.sandbox.state
    role = next(iter(state.roles.values()))
    project = min(state.projects)
    # The role is deleted in Harvest directly: the mirror still knows it, so the check passes and
    # the step after the create fails.
    creds = cli.sandbox.credentials
    headers = {"Authorization": f"Bearer {creds.admin_token}",
               "Harvest-Account-Id": str(creds.account_id), "User-Agent": "elsewhere (x@example.com)"}
    assert httpx.delete(f"{cli.running.api_url}/roles/{role.id}", headers=headers).status_code == 200
    args = [*JOINER, "--role", role.name, "--project", str(project)]

    failed = cli(*args, ok=False)
    assert failed.exit_code == 1
    assert re.search(r"joan@example.com was created \(user \d+\), but role", failed.stderr)
    assert re.search(r"done +invitation", failed.stderr)
    assert re.search(rf"failed +role {re.escape(role.name)}", failed.stderr)
    assert re.search(rf"not done +project .* \({project}\)", failed.stderr)
    assert "run the same command again" in failed.stderr
    assert "Unexpected error" not in failed.stderr
    uid = state.user_by_email("joan@example.com").id  # type: ignore[union-attr]
    assert state.assignment_for(project, uid) is None

    # The fix (the role again, and a mirror that knows it), then the same command.
    cli("sync")
    cli("roles", "create", role.name)
    done = cli(*args)
    assert "already exists: no invitation sent" in done.stdout
    assert re.search(rf"done +role {re.escape(role.name)}", done.stdout)
    assert re.search(rf"done +project .* \({project}\)", done.stdout)
    assert len(state.outbox) == 1
    assert _posts(cli) == 1
    assert state.assignment_for(project, uid) is not None
    assert role.name in cli.json("users", "show", "joan@example.com")["roles"]


def test_an_archived_user_is_not_created_again(cli: Cli) -> None:
    cli(*JOINER)
    cli("users", "archive", "joan@example.com")
    refused = cli(*JOINER, ok=False)
    assert refused.exit_code == 1
    assert "is archived" in refused.stderr
    assert "users restore joan@example.com" in refused.stderr
    assert len(cli.sandbox.state.outbox) == 1


def test_a_user_created_out_of_band_is_completed_not_invited_again(cli: Cli) -> None:
    cli("sync")
    state = cli.sandbox.state
    role = next(iter(state.roles.values())).name
    creds = cli.sandbox.credentials
    headers = {"Authorization": f"Bearer {creds.admin_token}",
               "Harvest-Account-Id": str(creds.account_id), "User-Agent": "elsewhere (x@example.com)"}
    made = httpx.post(f"{cli.running.api_url}/users", headers=headers, json={
        "email": "joan@example.com", "first_name": "Joan", "last_name": "Clarke"})
    assert made.status_code == 201
    # The mirror has not seen her: Harvest refuses the create (422), and she is completed.
    done = cli(*JOINER, "--role", role, "--billable-rate", "120")
    assert "already exists: no invitation sent" in done.stdout
    assert re.search(r"done +fields and rates", done.stdout)
    assert re.search(rf"done +role {re.escape(role)}", done.stdout)
    assert len(state.outbox) == 1  # the out-of-band create's own invitation only
    shown = cli.json("users", "show", "joan@example.com")
    assert shown["id"] == made.json()["id"]
    assert shown["default_hourly_rate"] == "120"
    # Created and archived out of band, unknown to the mirror: refused, nothing restored.
    other = httpx.post(f"{cli.running.api_url}/users", headers=headers, json={
        "email": "alan@example.com", "first_name": "Alan", "last_name": "Turing"}).json()
    assert httpx.patch(f"{cli.running.api_url}/users/{other['id']}", headers=headers,
                       json={"is_active": False}).status_code == 200
    refused = cli("users", "create", "--email", "alan@example.com", "--first-name", "Alan",
                  "--last-name", "Turing", ok=False)
    assert refused.exit_code == 1
    assert "is archived" in refused.stderr
    assert state.users[other["id"]].is_active is False
    assert len(state.outbox) == 2
