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


def test_the_encoding_is_decided_once_for_the_whole_file(tmp_path: Path) -> None:
    header = "email,first_name,last_name\n"
    cases = {
        "utf8.csv": (header + "a@example.com,Zoë,Müller\n").encode(),
        "bom.csv": b"\xef\xbb\xbf" + (header + "a@example.com,Zoë,Müller\n").encode(),
        "utf16be.csv": (header + "a@example.com,Zoë,Müller\n").encode("utf-16-be"),
        "cp1252.csv": (header + "a@example.com,Zoë,Müller €\n").encode("cp1252"),
    }
    cases["utf16be.csv"] = b"\xfe\xff" + cases["utf16be.csv"]
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        (row,) = load_roster(tmp_path / name)
        assert row.first_name == "Zoë", name
        assert row.last_name.startswith("Müller"), name
    assert load_roster(tmp_path / "cp1252.csv")[0].last_name == "Müller €"
    # 0x81 is undefined in Windows-1252: Latin-1 reads it rather than failing the file.
    (tmp_path / "odd.csv").write_bytes(header.encode() + b"a@example.com,A\x81,B\n")
    assert load_roster(tmp_path / "odd.csv")[0].first_name == "A\x81"


def test_delimiters_are_sniffed_from_the_header(tmp_path: Path) -> None:
    for name, sep in (("c.csv", ","), ("s.csv", ";"), ("t.tsv", "\t")):
        path = tmp_path / name
        path.write_text(sep.join(["email", "first_name", "last_name", "roles"]) + "\n"
                        + sep.join(["a@example.com", "A", "B", '"x,y;z"']) + "\n")
        (row,) = load_roster(path)
        assert row.roles == ("x", "y", "z"), name


def test_binary_files_and_long_cells_are_refused_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"email,first_name,last_name\na@example.com,A,B\nb@example.com,\x00,B\n")
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    assert caught.value.problems[0][0] == 3
    assert "binary" in str(caught.value)
    assert caught.value.exit_code == 2
    path = tmp_path / "long.yaml"
    path.write_text(f"- {{email: a@example.com, first_name: A, last_name: {'b' * 1001}}}\n")
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    assert caught.value.problems == [
        (1, "the last_name cell is 1,001 characters, over the 1,000 character limit")
    ]
