"""Roster files as spreadsheets save them: encodings, delimiters, limits, binary files."""

from __future__ import annotations

from pathlib import Path

from ._harvest import requests, writes
from .conftest import Cli

HEADER = ["email", "first_name", "last_name", "weekly_capacity_hours", "timezone"]


def _rows(delimiter: str) -> str:
    lines = [
        HEADER,
        ["zoe@example.com", "Zoë", "Müller-Lüdenscheidt", "37.5", "Europe/Berlin"],
        # A cell holding the other delimiters stays one cell.
        ["jose@example.com", "José", "Nuñez; García, Jr", "", ""],
    ]
    out = []
    for cells in lines:
        quoted = [f'"{c}"' if any(d in c for d in ",;\t") else c for c in cells]
        out.append(delimiter.join(quoted))
    return "\r\n".join(out) + "\r\n"


def _applied(cli: Cli, path: Path) -> None:
    cli("sync")
    cli("apply", str(path), "--yes")
    users = cli.users_by_email()
    zoe, jose = users["zoe@example.com"], users["jose@example.com"]
    assert (zoe.first_name, zoe.last_name) == ("Zoë", "Müller-Lüdenscheidt")
    assert zoe.weekly_capacity == 135000
    assert (jose.first_name, jose.last_name) == ("José", "Nuñez; García, Jr")
    assert cli.json("plan", str(path))["changes"] == []


def test_a_latin1_csv_as_excel_on_windows_saves_it_applies(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(_rows(",").encode("cp1252"))
    _applied(cli, path)


def test_a_utf16_csv_applies(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes(_rows(",").encode("utf-16"))  # with its byte-order mark
    assert path.read_bytes()[:2] == b"\xff\xfe"
    _applied(cli, path)


def test_a_semicolon_csv_as_european_excel_saves_it_applies(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "semicolons.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _rows(";").encode("utf-8"))  # UTF-8 with a BOM
    _applied(cli, path)


def test_a_tab_separated_file_applies(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "roster.tsv"
    path.write_text(_rows("\t"), encoding="utf-8")
    _applied(cli, path)


def _refused(cli: Cli, path: Path) -> str:
    cli("sync")
    before, outbox = requests(cli), len(cli.sandbox.state.outbox)
    for command in (["plan", str(path)], ["apply", str(path), "--yes"]):
        result = cli(*command, ok=False)
        assert result.exit_code == 2, result.stderr
        error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(error) == 1, result.stderr
        assert "Unexpected" not in result.stderr
    assert requests(cli) == before  # refused before any request, let alone a write
    assert writes(cli, before) == []
    assert len(cli.sandbox.state.outbox) == outbox
    return error[0]


def test_a_binary_file_is_one_clear_error(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4)  # an .xlsx, renamed
    error = _refused(cli, path)
    assert "line 1:" in error
    assert "not a text file" in error


def test_a_30_mb_cell_is_one_error_with_its_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write(",".join(HEADER) + "\n" + "ok@example.com,Ok,Fine,,\n")
        f.write("big@example.com,Big," + "x" * (30 * 1024 * 1024) + ",,\n")
    error = _refused(cli, path)
    assert "line 3:" in error
    assert "20 MB" in error


def test_a_cell_over_the_limit_is_an_error_with_its_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(
        ",".join(HEADER) + "\n" + "ok@example.com,Ok,Fine,,\n"
        + "long@example.com,Long," + "y" * 200_000 + ",,\n",
        encoding="utf-8",
    )
    error = _refused(cli, path)
    assert "line 3:" in error
    assert "1,000 character limit" in error
