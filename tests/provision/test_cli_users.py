"""Everyday operations end to end: the CLI against a sandbox over HTTP."""

from __future__ import annotations

import re

import httpx

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
