"""The command line starts fast: ``--help`` loads no heavy stack, and no command it does not show.

The root lists its commands from a static table (``thresher.cli._app.COMMANDS``) and imports a
command's module only to run it or show its own help, so ``thresher --help`` imports no command
module and ``thresher users list --help`` imports ``_users`` alone. Command modules import the
store (SQLAlchemy), the client's models (pydantic), httpx, the SCIM bridge, asyncio and Rich inside
the functions that use them. These tests check that structurally, by the modules a fresh
interpreter has loaded, and keep the table honest against the commands themselves; the time is
measured by ``bench/cli_startup.py``, never asserted here.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shlex
import subprocess
import sys

import pytest
import typer
import typer.main
from typer.core import TyperGroup

import thresher.cli
from thresher.cli._app import COMMANDS, app, load_command
from thresher.cli._choices import ACCESS_ROLES, ScimDeleteMode
from thresher.harvest import BASE_ROLES, MANAGER_ADDONS, PEOPLE_MANAGER
from thresher.scim import DeleteMode

#: Packages whose import costs a large share of the 0.3 s start-up budget.
HEAVY_PACKAGES = frozenset({
    "sqlalchemy", "alembic", "scim2_server", "scim2_models", "httpx", "pydantic", "pydantic_core",
    "uvicorn", "starlette", "cryptography", "yaml",
})
#: thresher's own parts behind them, and Rich's progress bars.
HEAVY_MODULES = frozenset({
    "thresher.harvest", "thresher.store", "thresher.sync", "thresher.scim", "thresher.provision",
    "thresher.connections", "thresher.sandbox", "thresher._serving", "rich.progress",
})

#: Not heavy for a command that runs, but a large share of the budget for one that only shows
#: help: Rich (and typer's Rich help: markdown_it), asyncio.
HELP_ONLY_PACKAGES = frozenset({"rich", "markdown_it", "asyncio"})

#: Imported by the commands that need them, never at start-up.
LOADED_ON_USE = {"_user_view"}

#: The CLI's modules every start loads: the entry point, the root table and the error console.
_ROOT_MODULES = ["thresher.cli", "thresher.cli._app", "thresher.cli._console", "thresher.cli._main"]

_PROBE = """
import contextlib, io, json, sys
heavy_packages, heavy_modules, modules, argv = json.loads(sys.argv[1])
for name in modules:
    __import__(name)
if argv is not None:
    from thresher.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
        except SystemExit:
            pass
print(json.dumps(sorted(
    m for m in sys.modules
    if m.split(".")[0] in heavy_packages or any(m == h or m.startswith(h + ".") for h in heavy_modules)
)))
"""


def _heavy_loaded(
    modules: list[str], argv: list[str] | None = None, *, packages: frozenset[str] = HEAVY_PACKAGES,
    parts: frozenset[str] = HEAVY_MODULES,
) -> list[str]:
    """The modules of ``packages`` and ``parts`` a fresh interpreter holds after importing
    ``modules`` (and running ``thresher ARGV``)."""
    spec = json.dumps([sorted(packages), sorted(parts), modules, argv])
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, spec], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def _command_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(thresher.cli.__path__)]
    assert "_users" in names
    # _app and _main import every command module: they are checked as a whole below.
    skip = {"_app", "_main", *LOADED_ON_USE}
    return [f"thresher.cli.{n}" for n in sorted(names) if n not in skip]


def test_command_modules_load_no_heavy_stack() -> None:
    assert _heavy_loaded(_command_modules()) == []


@pytest.mark.parametrize(
    ("modules", "argv"),
    [
        (["thresher.cli._app"], None),
        ([], ["--help"]),
        ([], ["users", "list", "--help"]),
        ([], ["api", "--help"]),
        ([], ["connections", "test", "--help"]),
    ],
    ids=["import", "--help", "users-list-help", "api-help", "connections-test-help"],
)
def test_start_up_loads_no_heavy_stack(modules: list[str], argv: list[str] | None) -> None:
    assert _heavy_loaded(modules, argv, packages=HEAVY_PACKAGES | HELP_ONLY_PACKAGES) == []


@pytest.mark.parametrize(
    ("argv", "commands"),
    [
        (["--help"], []),
        (["users", "list", "--help"], ["thresher.cli._users"]),
        (["sync", "--help"], ["thresher.cli._sync"]),
    ],
    ids=["--help", "users-list-help", "sync-help"],
)
def test_help_imports_only_the_command_it_shows(argv: list[str], commands: list[str]) -> None:
    command_modules = frozenset(
        f"thresher.cli.{m.name}" for m in pkgutil.iter_modules(thresher.cli.__path__)
    ) - {*_ROOT_MODULES, "thresher.cli._choices", "thresher.cli._json", "thresher.cli._options",
         "thresher.cli._output", "thresher.cli._plumbing"}  # helpers, not commands
    assert _heavy_loaded([], argv, packages=frozenset(), parts=command_modules) == commands


def test_the_command_table_matches_the_commands() -> None:
    """Every entry resolves to its command, with the command's own short help; every group a
    command module defines is reachable from the table (so none can be left out of it)."""
    reachable: set[int] = set()

    def walk(group: typer.Typer) -> None:
        reachable.add(id(group))
        for info in group.registered_groups:
            assert info.typer_instance is not None
            walk(info.typer_instance)

    for name, (module, attribute, short_help) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert command.get_short_help_str(limit=10_000) == short_help, name
        target = getattr(importlib.import_module(f"thresher.cli.{module}"), attribute)
        assert isinstance(command, TyperGroup) == isinstance(target, typer.Typer), name
        if isinstance(target, typer.Typer):
            walk(target)
    defined = {
        f"{m.name}.{attr}": value
        for m in pkgutil.iter_modules(thresher.cli.__path__)
        for attr, value in vars(importlib.import_module(f"thresher.cli.{m.name}")).items()
        if isinstance(value, typer.Typer) and value is not app
    }
    assert defined, "no command group found: the search is broken"
    assert sorted(name for name, group in defined.items() if id(group) not in reachable) == []
    # The root shows the table's order and text.
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    assert list(root.list_commands(root.make_context("thresher", [], resilient_parsing=True))) == [
        *COMMANDS
    ]


def test_cli_choices_match_their_sources() -> None:
    assert (*BASE_ROLES, *MANAGER_ADDONS, PEOPLE_MANAGER) == ACCESS_ROLES
    assert [m.value for m in ScimDeleteMode] == [m.value for m in DeleteMode]


def _thresher(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thresher", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, check=False,
    )


def test_help_lists_every_command_and_option() -> None:
    root = _thresher("--help")
    assert root.returncode == 0, root.stderr
    for command in (
        "sync", "changes", "login", "offboard", "assign", "unassign", "plan", "apply", "demo",
        "sandbox", "db", "users", "connections", "teammates", "roles", "rates", "scim", "api",
        "accounts",
    ):
        assert f" {command} " in root.stdout, command
    for option in ("--debug", "--version", "--install-completion", "--show-completion", "--help"):
        assert option in root.stdout, option
    users_list = _thresher("users", "list", "--help")
    assert users_list.returncode == 0, users_list.stderr
    for option in (
        "--email", "--name", "--access-role", "--role", "--active", "--archived", "--deleted",
        "--sort", "--limit", "--connection", "--format", "--json", "--database-url",
    ):
        assert option in users_list.stdout, option
    assert "people_manager" in users_list.stdout  # the access roles, named without the client
    for argv in (["api"], ["connections", "test"], ["accounts", "list"], ["users", "create"]):
        shown = _thresher(*argv, "--help")
        assert shown.returncode == 0, shown.stderr
        assert "Example: thresher" in shown.stdout, argv
    create = _thresher("users", "create", "--help").stdout
    for option in ("--role", "--manager", "--project", "--billable-rate", "--cost-rate"):
        assert option in create, option
    serve = _thresher("scim", "serve", "--help")
    assert serve.returncode == 0, serve.stderr
    assert "archive|delete" in serve.stdout
    assert "--access-log" in serve.stdout
    assert "--no-access-log" in serve.stdout


def test_shell_completion() -> None:
    # As a person asks for it: from bash, which typer detects as the parent shell (without a
    # shell above it, as under `nohup`, typer cannot tell which script to print). The `exit` after
    # it keeps bash from replacing itself with the command.
    script = subprocess.run(
        ["bash", "-c", f"{shlex.quote(sys.executable)} -m thresher --show-completion; exit $?"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert "_THRESHER_COMPLETE=complete_bash" in script.stdout
    # What the installed script asks the CLI when one presses Tab after "thresher us".
    tab = _thresher(env={"_THRESHER_COMPLETE": "complete_bash", "COMP_WORDS": "thresher us",
                         "COMP_CWORD": "1"})
    assert tab.returncode == 0, tab.stderr
    assert tab.stdout.split() == ["users"]
    # A subcommand's names come from its group, imported for the purpose.
    tab = _thresher(env={"_THRESHER_COMPLETE": "complete_bash", "COMP_WORDS": "thresher users li",
                         "COMP_CWORD": "2"})
    assert tab.returncode == 0, tab.stderr
    assert tab.stdout.split() == ["list"]
    # Options of the root complete too.
    tab = _thresher(env={"_THRESHER_COMPLETE": "complete_bash", "COMP_WORDS": "thresher --deb",
                         "COMP_CWORD": "1"})
    assert tab.stdout.split() == ["--debug"]
