"""Roster files: both formats, every rule, line numbers as the user sees them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from thresher.provision import RosterError, load_roster


def test_yaml_rows_are_read_with_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "roster.yml"
    path.write_text(
        "users:\n"
        "  - email: ada@example.com\n"
        "    first_name: Ada\n"
        "    last_name: Lovelace\n"
        "    access_roles: [manager, project_creator]\n"
        "    roles: [Engineering, Math]\n"
        "    timezone: Eastern Time (US & Canada)\n"
        "    weekly_capacity_hours: 37.5\n"
        "    billable_rate: 120.5\n"
        "    is_contractor: yes\n"
        "  - email: bob@example.com\n"
        "    first_name: Bob\n"
        "    last_name: B\n"
        "    timezone: Europe/Paris\n"
        "    manager_email: ADA@example.com\n"
        "    active: false\n"
    )
    ada, bob = load_roster(path)
    assert ada.line == 2
    assert bob.line == 11
    assert ada.access_roles == ("manager", "project_creator")
    assert ada.roles == ("Engineering", "Math")
    assert ada.timezone == "Eastern Time (US & Canada)"
    assert ada.weekly_capacity == 135000
    assert ada.billable_rate == Decimal("120.5")
    assert ada.is_contractor is True
    assert bob.timezone == "Paris"
    assert bob.active is False


def test_every_bad_row_is_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text(
        "- {email: a@example.com, first_name: A, last_name: A, access_roles: member}\n"
        "- {email: b@example.com, first_name: B, last_name: B, access_roles: people_manager}\n"
        "- {email: c@example.com, first_name: C, last_name: C, manager_email: a@example.com}\n"
        "- {email: d@example.com, first_name: D, last_name: D, weekly_capacity_hours: 37.25}\n"
        "- {email: e@example.com, first_name: E, last_name: E, colour: blue}\n"
        "- {email: f@example.com, first_name: F, last_name: F, cost_rate: -1}\n"
        "- {email: g@example.com, first_name: G}\n"
    )
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    problems = dict(caught.value.problems)
    assert sorted(problems) == [2, 3, 4, 5, 6, 7]
    assert "people_manager" in problems[2]
    assert "not a manager" in problems[3]
    assert "half-hour" in problems[4]
    assert "colour" in problems[5]
    assert "cost_rate" in problems[6]
    assert "required" in problems[7]
    assert "nothing was applied" in str(caught.value)
