"""``thresher scim ...``: the SCIM 2.0 bridge for identity providers."""

from __future__ import annotations

import typer

scim_app = typer.Typer(help="Serve the SCIM 2.0 bridge and manage its tokens.", no_args_is_help=True)
