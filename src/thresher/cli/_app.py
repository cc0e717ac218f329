"""The root Typer app: global options, and every command and group registered in one place.

Command modules only define their functions or their own ``typer.Typer()`` group; none of them
imports this module, so the CLI has no import cycle.
"""

from __future__ import annotations

import logging
from typing import Any

import typer

from thresher._origin import set_origin

from . import _console
from ._admin import admin_app
from ._api import api
from ._connection_config import connections_config
from ._connections import accounts_app, connections_test
from ._db import db_app
from ._demo import demo
from ._jobs import jobs
from ._login import connections_app, login
from ._mcp import mcp_app
from ._rates_and_projects import assign, rates_app, unassign
from ._roles import roles_app
from ._roster import apply_command, plan_command
from ._sandbox import sandbox_app
from ._scim import scim_app
from ._serve import serve
from ._sync import changes, sync
from ._teammates import teammates_app
from ._users import offboard_command, users_app
from ._webhooks import webhooks_app
from ._worker import worker

__all__ = ["app"]

app = typer.Typer(
    name="thresher",
    help=(
        "Run the whole lifecycle of Harvest users: a typed client, a local sandbox, a roster "
        "mirror, provisioning and a SCIM 2.0 bridge.\n\nExample: thresher demo"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # noqa: PLC0415 - only --version needs it

        typer.echo(f"thresher {version('thresher')}")
        raise typer.Exit


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks and debug logs (tokens stay redacted)."
    ),
    _show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show thresher's version and exit."
    ),
) -> None:
    _console.state.debug = debug
    set_origin("cli")  # webhook payloads say a write came from the command line (thresher._origin)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# In the order --help lists them.
app.command("sync")(sync)
app.command("changes")(changes)
app.command("login")(login)
app.command("offboard")(offboard_command)
app.command("assign")(assign)
app.command("unassign")(unassign)
app.command("plan")(plan_command)
app.command("apply")(apply_command)
app.command("demo")(demo)
app.command("serve")(serve)
app.command("api")(api)
app.command("worker")(worker)
app.command("jobs")(jobs)

app.add_typer(sandbox_app, name="sandbox")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
connections_app.command("test")(connections_test)
connections_app.command("config")(connections_config)
app.add_typer(connections_app, name="connections")
app.add_typer(accounts_app, name="accounts")
app.add_typer(teammates_app, name="teammates")
app.add_typer(roles_app, name="roles")
app.add_typer(rates_app, name="rates")
app.add_typer(scim_app, name="scim")
app.add_typer(admin_app, name="admin")
app.add_typer(mcp_app, name="mcp")
app.add_typer(webhooks_app, name="webhooks")


def _unset_flags(group: typer.Typer) -> dict[str, Any]:
    """``--help`` is false unless given, in ``group`` and each of its subgroups (a default map).

    typer (0.29) coerces a flag whose value is missing (None) through a pydantic TypeAdapter, so
    without this every subcommand, even ``thresher users list --help``, would import pydantic
    (0.1-0.2 s) just to read that the group's ``--help`` was not given. A flag that is already
    a bool skips that step. Measured by ``bench/cli_startup.py``; ``tests/cli/test_startup.py``
    checks that ``users list --help`` imports no pydantic.
    """
    unset: dict[str, Any] = {"help": False}
    for info in group.registered_groups:
        if info.name and info.typer_instance is not None:
            unset[info.name] = _unset_flags(info.typer_instance)
    return unset


app.info.context_settings = {
    **(app.info.context_settings or {}),
    "default_map": {"install_completion": False, "show_completion": False, **_unset_flags(app)},
}
