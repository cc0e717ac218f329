"""``thresher demo``: the main job on the embedded sandbox and SQLite."""

from __future__ import annotations

import typer

from ._app import app
from ._console import out


@app.command()
def demo(
    users: int = typer.Option(25, help="How many users the embedded sandbox is seeded with."),
    json_out: bool = typer.Option(False, "--json", help="Print the roster as JSON."),
) -> None:
    """Start an embedded sandbox, sync it into SQLite and print the roster.

    Example: thresher demo --users 50
    """
    out.print("thresher demo: not wired yet")
