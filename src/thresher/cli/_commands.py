"""Registers every command group on the root app (one module per part)."""

from __future__ import annotations

from . import _demo, _sync  # noqa: F401  (their commands register on import)
from ._app import app
from ._db import db_app
from ._sandbox import sandbox_app
from ._users import users_app

app.add_typer(sandbox_app, name="sandbox")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
