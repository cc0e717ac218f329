"""``thresher sandbox ...``: run the local Harvest."""

from __future__ import annotations

import typer

sandbox_app = typer.Typer(
    help="Run a local Harvest (the sandbox) for tests and offline integration work.",
    no_args_is_help=True,
)
