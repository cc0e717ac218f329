"""Options and arguments many commands share, defined once so they read the same everywhere."""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["CONNECTION", "DATABASE_URL", "FORMAT", "JSON", "PEOPLE", "WHO", "YES", "json_option"]


def json_option(what: str = "the result") -> Any:
    """``--json``: print ``what`` as JSON (machine output, see ``_console.print_json``)."""
    return typer.Option(False, "--json", help=f"Print {what} as JSON.")


JSON = json_option()
DATABASE_URL = typer.Option(
    None,
    "--database-url",
    envvar="THRESHER_DATABASE_URL",
    help="Store URL, SQLite or PostgreSQL (default: thresher.db in your data directory).",
)
CONNECTION = typer.Option(None, "--connection", "-c", help="Connection name (default: the default one).")
WHO = typer.Argument(..., help="Email or Harvest user id.")
PEOPLE = typer.Argument(..., help="Emails or Harvest user ids.")
FORMAT = typer.Option(
    None,
    "--format",
    case_sensitive=False,
    help="table, plain (tab-separated), json or jsonl (default: table on a terminal, else plain).",
)
YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (needed without a terminal).")

