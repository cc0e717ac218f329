"""One JSON shape per record type (docs/cli-json.md), whichever command prints it."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from provision.conftest import Cli

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
USER_KEYS = [
    "id", "first_name", "last_name", "email", "telephone", "timezone",
    "has_access_to_all_future_projects", "is_contractor", "is_active", "status", "weekly_capacity",
    "default_hourly_rate", "cost_rate", "roles", "access_roles", "avatar_url", "created_at",
    "updated_at", "deleted_at", "first_seen_at", "last_seen_at",
]


def _timestamps(record: dict[str, Any]) -> None:
    for key, value in record.items():
        if key.endswith("_at") and value is not None:
            assert TIMESTAMP.match(value), (key, value)


def test_users_show_and_every_user_write_print_the_same_shape(cli: Cli) -> None:
    created = cli.json("users", "create", "--email", "ada@example.com", "--first-name", "Ada",
                       "--last-name", "Lovelace", "--billable-rate", "150.0", "--cost-rate", "80.50")
    updated = cli.json("users", "update", "ada@example.com", "--last-name", "King")
    shown = cli.json("users", "show", "ada@example.com")
    assert list(created) == list(updated) == list(shown) == USER_KEYS
    assert updated == shown  # write-through: the mirror holds exactly Harvest's answer
    assert shown["default_hourly_rate"] == "150"
    assert shown["cost_rate"] == "80.5"
    assert shown["status"] == "active"
    _timestamps(shown)
    listed = cli.json("users", "list", "--email", "ADA@example.com")
    assert listed == [shown]

    archived = cli.json("users", "archive", "ada@example.com")
    assert list(archived) == USER_KEYS
    assert archived["status"] == "archived"
    deleted = cli("users", "delete", "ada@example.com", "--yes", "--json")
    gone = cli.json("users", "show", "ada@example.com")
    assert gone["status"] == "deleted"
    assert gone["deleted_at"] is not None
    assert '"status": "deleted"' in deleted.stdout
    text = cli("users", "show", "ada@example.com").stdout
    assert re.search(r"^status +deleted \(gone from Harvest since ", text, re.MULTILINE)
    assert "active" not in text


def test_users_show_lists_projects_from_harvest_and_other_shapes(cli: Cli) -> None:
    cli("sync")
    state = cli.sandbox.state
    user = next(u for u in state.users.values() if u.is_active and u.access_roles == ["member"])
    project = max(state.projects)
    cli("assign", user.email, "--project", str(project))
    text = cli("users", "show", user.email).stdout
    assert f"{state.projects[project].name} (id {project})" in text

    rates = cli.json("rates", "set", user.email, "--billable", "150.00", "--cost", "80.5")
    assert rates["billable_rate"]["amount"] == "150"
    assert rates["cost_rate"]["amount"] == "80.5"
    _timestamps(rates["billable_rate"])

    role = cli.json("roles", "create", "Divers", "--member", str(user.id))
    assert list(role) == ["id", "name", "user_ids", "created_at", "updated_at", "deleted_at"]
    assert [r for r in cli.json("roles", "list") if r["id"] == role["id"]] == [role]
    _timestamps(role)

    events = cli.json("changes")
    assert events
    for event in events:
        assert TIMESTAMP.match(event["observed_at"])
        created_at = event["changes"].get("created_at", {}).get("after")
        assert created_at is None or TIMESTAMP.match(created_at)


def test_assign_prints_canonical_amounts_and_timestamps(cli: Cli) -> None:
    state = cli.sandbox.state
    # An assignment with rates of its own: assigning again answers with it, as Harvest holds it.
    seeded = next(
        a for a in state.user_assignments.values()
        if a.is_active and a.hourly_rate is not None and state.users[a.user_id].is_active
    )
    email = state.users[seeded.user_id].email
    shown = cli.json("assign", email, "--project", str(seeded.project_id))
    assert list(shown) == [
        "email", "id", "project", "user", "is_active", "is_project_manager", "use_default_rates",
        "hourly_rate", "budget", "created_at", "updated_at",
    ]
    assert shown["id"] == seeded.id
    assert shown["hourly_rate"] == format(Decimal(str(seeded.hourly_rate)).normalize(), "f")
    assert "." not in shown["hourly_rate"] or not shown["hourly_rate"].endswith("0")
    assert shown["budget"] is None or isinstance(shown["budget"], str)
    _timestamps(shown)
