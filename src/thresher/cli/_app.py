"""The root command: global options, and a static table of every command and group, each imported
only when it runs (or when its own ``--help`` is asked for).

``thresher --help`` lists the table without importing one command module, and
``thresher users list --help`` imports ``_users`` alone: typer builds a command by reading its
function's signature, so a tree built up front costs every module's imports (about 0.5 s; the
target is 0.3 s, ``bench/cli_startup.py``). ``tests/cli/test_startup.py`` keeps the table honest:
every entry resolves, its short help is the command's own, and every group the modules define is
reachable from it.

Command modules only define their functions or their own ``typer.Typer()`` group; none of them
imports this module, so the CLI has no import cycle.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

import typer
import typer.main
from typer._click.shell_completion import CompletionItem
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup
from typer.models import CommandInfo, TyperInfo

from thresher._origin import set_origin

from . import _console

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter

__all__ = ["COMMANDS", "app", "load_command"]

#: Every top-level command and group, in the order ``--help`` lists them:
#: name -> (module in thresher.cli, attribute: a command function or a ``typer.Typer``, short help).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "sync": ("_sync", "sync", "Sync a connection's users, roles and teammates into the roster mirror."),
    "changes": (
        "_sync", "changes",
        "Show the change log the sync and every write recorded, newest first, with each user's "
        "email; --follow then prints new events as they come (JSON Lines with --json).",
    ),
    "login": (
        "_login", "login",
        "Log in to Harvest (or Greenhouse) and save the connection, with its credentials encrypted.",
    ),
    "offboard": (
        "_users", "offboard_command",
        "Offboard a person: archive them (their time is kept), optionally deleting instead.",
    ),
    "assign": (
        "_rates_and_projects", "assign",
        "Assign a user to a project (an archived assignment is re-activated).",
    ),
    "unassign": (
        "_rates_and_projects", "unassign",
        "Take a user off a project (archived instead when the assignment has time).",
    ),
    "plan": (
        "_roster", "plan_command",
        "Show what 'apply' would change, computed from the roster mirror (refreshed first when stale).",
    ),
    "apply": (
        "_roster", "apply_command",
        "Make Harvest match a roster file: sync, plan, then create, update, restore and archive in "
        "dependency order.",
    ),
    "demo": (
        "_demo", "demo",
        "Run thresher end to end against an embedded sandbox (no real Harvest, no email).",
    ),
    "serve": (
        "_serve", "serve",
        "Run the service: SCIM bridge, MCP server, status API, dashboard, /metrics and scheduled "
        "syncs.",
    ),
    "api": ("_api", "api", "Send any Harvest request through a connection and print the JSON answer."),
    "worker": (
        "_worker", "worker",
        "Run jobs from the queue until SIGTERM or Ctrl-C (jobs in flight finish first).",
    ),
    "jobs": (
        "_jobs", "jobs",
        "Show the job queue: depth, running and failed jobs, per queue and per connection.",
    ),
    "sandbox": (
        "_sandbox", "sandbox_app",
        "Run a local Harvest (the sandbox) for tests and offline integration work.",
    ),
    "db": ("_db", "db_app", "The roster store's database: apply and inspect schema migrations."),
    "users": ("_users", "users_app", "Look up and manage Harvest users."),
    "connections": ("_connections", "connections_app", "Manage saved Harvest connections."),
    "accounts": ("_connections", "accounts_app", "Harvest accounts a connection's token reaches."),
    "teammates": ("_teammates", "teammates_app", "Show and change a manager's teammates."),
    "roles": ("_roles", "roles_app", "Manage Harvest roles (business labels)."),
    "rates": ("_rates_and_projects", "rates_app", "Set billable and cost rates."),
    "scim": ("_scim", "scim_app", "Serve the SCIM 2.0 bridge and manage its tokens."),
    "admin": ("_admin", "admin_app", "Dashboard admins and status-API tokens."),
    "mcp": ("_mcp", "mcp_app", "The MCP server: let AI agents run the Harvest user lifecycle, safely."),
    "webhooks": (
        "_webhooks", "webhooks_app",
        "Push every roster change to other systems: subscriptions, the dispatcher, deliveries.",
    ),
}


def load_command(name: str) -> Command:
    """The click command for the table's entry ``name``, importing its module now.

    Help is plain click formatting (no Rich markup mode): typer's Rich help imports
    ``rich.markdown``, ``markdown_it``, ``rich.traceback`` and ``rich.pretty`` (about 90 ms).
    """
    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group_from_info(
            TyperInfo(target, name=name),
            pretty_exceptions_short=target.pretty_exceptions_short,
            suggest_commands=True,
            rich_markup_mode=None,
        )
    return typer.main.get_command_from_info(
        CommandInfo(name=name, callback=target), pretty_exceptions_short=True, rich_markup_mode=None
    )


def _unset_flags(command: Command) -> dict[str, Any]:
    """``--help`` is false unless given, in ``command`` and each of its subgroups (a default map).

    typer (0.29) coerces a flag whose value is missing (None) through a pydantic TypeAdapter, so
    without this every subcommand, even ``thresher users list --help``, would import pydantic
    (0.1-0.2 s) just to read that the group's ``--help`` was not given. A flag that is already
    a bool skips that step. ``tests/cli/test_startup.py`` checks that ``users list --help``
    imports no pydantic.
    """
    unset: dict[str, Any] = {"help": False}
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            if isinstance(sub, TyperGroup):
                unset[name] = _unset_flags(sub)
    return unset


class _LazyCommands(MutableMapping[str, "Command"]):
    """The root's commands: the table's names, each built on first access."""

    def __init__(self) -> None:
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = load_command(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("thresher's commands are a static table (cli/_app.py)")

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._built if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(1 for name in self._built if name not in COMMANDS)

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._built


class _LazyGroup(TyperGroup):
    """The root group: lists, completes and suggests from the table; imports a command to run it."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = self.commands.get(cmd_name)
        if command is not None and ctx.default_map is not None and cmd_name not in ctx.default_map:
            # The default map is the root's context settings (below), the same dict every run:
            # adding the same entry again changes nothing.
            ctx.default_map[cmd_name] = _unset_flags(command)
        return command

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, make_default_short_help(help_, limit)) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: Context, incomplete: str) -> list[CompletionItem]:
        items = [
            CompletionItem(name, help=make_default_short_help(help_))
            for name, (_, _, help_) in COMMANDS.items()
            if name.startswith(incomplete)
        ]
        # The options' completions, as a plain command gives them (not the commands again).
        items.extend(super(TyperGroup, self).shell_complete(ctx, incomplete))
        return items


app = typer.Typer(
    name="thresher",
    cls=_LazyGroup,
    help=(
        "Run the whole lifecycle of Harvest users: a typed client, a local sandbox, a roster "
        "mirror, provisioning and a SCIM 2.0 bridge.\n\nExample: thresher demo"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=True,
    # Help uses the terminal's width up to 120 columns (click's default stops at 80).
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
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


app.info.context_settings = {
    **(app.info.context_settings or {}),
    "default_map": {"install_completion": False, "show_completion": False, "help": False},
}
