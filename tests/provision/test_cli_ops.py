"""Offboarding, teammates, roles, rates and project assignments through the CLI."""

from __future__ import annotations

from .conftest import Cli


def _member_without_time(cli: Cli, *, skip: frozenset[int] = frozenset()) -> int:
    state = cli.sandbox.state
    for user in state.users.values():
        if (user.is_active and user.access_roles == ["member"] and user.id not in skip
                and not state.time_entries.get(user.id) and not state.expenses.get(user.id)):
            return user.id
    raise AssertionError("no member without time in the sandbox")


def test_offboard_archives_and_delete_falls_back_to_archive_with_the_reason(cli: Cli) -> None:
    cli("sync")
    state = cli.sandbox.state
    keeper = _member_without_time(cli)
    cli.sandbox.add_time_entry(keeper)
    email = state.users[keeper].email

    result = cli("offboard", email, "--delete", "--yes")
    assert "refused to delete" in result.stdout
    assert "archived" in result.stdout
    assert "time entries" in result.stdout  # Harvest's own reason is passed on
    assert keeper in state.users
    assert not state.users[keeper].is_active
    assert cli.json("users", "show", email)["is_active"] is False

    leaver = _member_without_time(cli)
    out = cli.json("offboard", state.users[leaver].email, "--delete", "--yes")
    assert out["outcome"] == "deleted"
    assert leaver not in state.users


def test_offboard_removes_from_teams_and_roles_and_never_the_token_owner(cli: Cli) -> None:
    cli("sync")
    state = cli.sandbox.state
    a = _member_without_time(cli)
    b = _member_without_time(cli, skip=frozenset({a}))
    manager = cli.json(
        "users", "create", "--email", "lead@example.com", "--first-name", "Lea",
        "--last-name", "Dor", "--access-roles", "manager",
    )
    shown = cli.json("teammates", "set", "lead@example.com", str(a), str(b))
    assert sorted(t["id"] for t in shown["teammates"]) == sorted([a, b])
    cli("roles", "create", "Pilots", "--member", str(a), "--member", str(b))

    out = cli.json("offboard", str(a), "--remove-from-teams", "--remove-from-roles")
    assert out["removed_from_managers"] == [manager["id"]]
    assert out["removed_from_roles"] == ["Pilots"]
    assert list(state.teammates[manager["id"]]) == [b]
    role = next(r for r in state.roles.values() if r.name == "Pilots")
    assert list(role.user_ids) == [b]
    assert not state.users[a].is_active

    owner = cli.sandbox.user_for_token(cli.sandbox.credentials.admin_token)
    assert owner is not None
    refused = cli("offboard", owner.email, ok=False)
    assert refused.exit_code == 1
    assert "never offboards itself" in refused.stderr
    assert state.users[owner.id].is_active


def test_teammates_add_remove_show(cli: Cli) -> None:
    cli("sync")
    a = _member_without_time(cli)
    cli("users", "create", "--email", "m@example.com", "--first-name", "M", "--last-name", "Gr",
        "--access-roles", "manager")
    assert [t["id"] for t in cli.json("teammates", "add", "m@example.com", str(a))["teammates"]] == [a]
    assert "people_manager" in cli.json("users", "show", "m@example.com")["access_roles"]
    assert cli.json("teammates", "remove", "m@example.com", str(a))["teammates"] == []
    assert cli.json("teammates", "show", "m@example.com")["teammates"] == []
    refused = cli("teammates", "add", "m@example.com", "nobody@nowhere.example", ok=False)
    assert refused.exit_code == 1
    assert "nobody@nowhere.example" in refused.stderr


def test_roles_lifecycle(cli: Cli) -> None:
    cli("sync")
    a = _member_without_time(cli)
    cli("roles", "create", "Divers")
    cli("roles", "add-member", "Divers", str(a))
    assert "Divers" in cli.json("users", "show", str(a))["roles"]
    cli("roles", "rename", "Divers", "Deep Divers")
    assert "Deep Divers" in cli.json("users", "show", str(a))["roles"]
    names = [r["name"] for r in cli.json("roles", "list")]
    assert "Deep Divers" in names
    assert "Divers" not in names
    cli("roles", "remove-member", "Deep Divers", str(a))
    cli("roles", "delete", "Deep Divers", "--yes")
    assert "Deep Divers" not in [r["name"] for r in cli.json("roles", "list")]
    assert "Deep Divers" not in cli.json("users", "show", str(a))["roles"]


def test_rates_and_project_assignments(cli: Cli) -> None:
    cli("sync")
    a = _member_without_time(cli)
    email = cli.sandbox.state.users[a].email
    out = cli.json("rates", "set", email, "--billable", "150", "--cost", "80.5")
    assert float(out["billable_rate"]["amount"]) == 150.0
    shown = cli.json("users", "show", email)
    assert float(shown["default_hourly_rate"]) == 150.0
    assert float(shown["cost_rate"]) == 80.5
    bad = cli("rates", "set", email, "--billable", "lots", ok=False)
    assert bad.exit_code == 2  # a usage error (README, "Exit codes")
    assert "not a number" in bad.stderr

    project = max(cli.sandbox.state.projects)
    assigned = cli.json("assign", email, "--project", str(project))
    assert assigned["project"]["id"] == project
    assert cli.sandbox.state.assignment_for(project, a) is not None
    assert cli.json("unassign", email, "--project", str(project))["outcome"] == "deleted"
    assert "was not assigned" in cli("unassign", email, "--project", str(project)).stdout


def test_every_command_has_help_with_an_example(cli: Cli) -> None:
    commands = [
        ["login"], ["offboard"], ["assign"], ["unassign"], ["plan"], ["apply"],
        ["connections", "list"], ["connections", "use"], ["connections", "remove"],
        ["teammates", "show"], ["teammates", "set"], ["teammates", "add"], ["teammates", "remove"],
        ["roles", "list"], ["roles", "create"], ["roles", "rename"], ["roles", "delete"],
        ["roles", "add-member"], ["roles", "remove-member"], ["rates", "set"],
        ["users", "create"], ["users", "update"], ["users", "archive"], ["users", "restore"],
        ["users", "delete"],
    ]
    for command in commands:
        assert "Example: thresher" in cli(*command, "--help").stdout, command
