"""``thresher plan`` for people and for pipes, like the lists (docs/cli-json.md, "Formats"): plain
tab-separated rows with a header when piped (the summary on stderr), the table on a terminal or
with ``--format table``, and a change per line with ``--format jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

from provision.conftest import Cli

HEADER = "email,first_name,last_name\n"
LONG = "maximiliana.theodora.vandenberghe-oppenheimer.{}@subsidiary.example-corporation.com"


def _roster(cli: Cli, tmp_path: Path) -> tuple[Path, list[str]]:
    cli("sync")
    emails = [LONG.format(i) for i in range(3)]
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "".join(f"{e},Max {i},Vandenberghe\n" for i, e in enumerate(emails)))
    return path, emails


def test_a_piped_plan_is_rows_with_a_header_and_the_summary_on_stderr(cli: Cli, tmp_path: Path) -> None:
    path, emails = _roster(cli, tmp_path)
    piped = cli("plan", str(path))
    lines = piped.stdout.splitlines()
    assert lines[0] == "action\twho\tchanges"
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == 3 for row in rows)
    assert sorted(row[1] for row in rows) == sorted(emails)  # whole, one per row
    assert {row[0] for row in rows} == {"create"}
    assert "3 change(s)" in piped.stderr
    assert "3 invitation(s)" in piped.stderr
    assert "─" not in piped.stdout
    assert "━" not in piped.stdout
    assert cli("plan", str(path), "--format", "plain").stdout == piped.stdout


def test_the_table_and_jsonl_formats(cli: Cli, tmp_path: Path) -> None:
    path, emails = _roster(cli, tmp_path)
    table = cli("plan", str(path), "--format", "table", env={"COLUMNS": "80"}).stdout
    assert "┃ action" in table
    assert all(email in table for email in emails)  # never cut, even at 80 columns
    assert "3 change(s)" in table
    changes = [json.loads(line) for line in cli("plan", str(path), "--format", "jsonl").stdout.splitlines()]
    assert sorted(c["target"] for c in changes) == sorted(emails)
    assert changes == cli.json("plan", str(path))["changes"]
    contradiction = cli("plan", str(path), "--json", "--format", "table", ok=False)
    assert contradiction.exit_code == 2
