"""Registers every command group on the root app (one module per part)."""

from __future__ import annotations

from . import _demo, _sync  # noqa: F401  (their commands register on import)
from ._app import app
from ._db import db_app
from ._provision import connections_app, rates_app, roles_app, teammates_app
from ._sandbox import sandbox_app
from ._scim import scim_app
from ._users import users_app

app.add_typer(sandbox_app, name="sandbox")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(connections_app, name="connections")
app.add_typer(teammates_app, name="teammates")
app.add_typer(roles_app, name="roles")
app.add_typer(rates_app, name="rates")
app.add_typer(scim_app, name="scim")
