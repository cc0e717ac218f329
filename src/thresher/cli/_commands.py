"""Registers every command group on the root app (one module per part)."""

from __future__ import annotations

from . import _demo  # noqa: F401
from ._app import app
from ._sandbox import sandbox_app

app.add_typer(sandbox_app, name="sandbox")
