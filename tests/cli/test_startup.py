"""The command line starts fast: building ``--help`` loads no heavy stack.

typer reads every command's signature to build the command tree, so every command module is
imported for ``thresher --help``; they import the store (SQLAlchemy), the client's models
(pydantic), httpx, the SCIM bridge and the rest inside the commands that use them. These tests
check that structurally, by the modules a fresh interpreter has loaded; the time itself is
measured by ``bench/cli_startup.py``, never asserted here.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys

import pytest

import thresher.cli
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

#: Imported by the commands that need them, never at start-up.
LOADED_ON_USE = {"_user_view"}

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


def _heavy_loaded(modules: list[str], argv: list[str] | None = None) -> list[str]:
    """The heavy modules a fresh interpreter holds after importing ``modules`` (and running
    ``thresher ARGV``)."""
    spec = json.dumps([sorted(HEAVY_PACKAGES), sorted(HEAVY_MODULES), modules, argv])
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
    assert _heavy_loaded(modules, argv) == []


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
    script = _thresher("--show-completion", "bash")
    assert script.returncode == 0, script.stderr
    assert "_THRESHER_COMPLETE=complete_bash" in script.stdout
    # What the installed script asks the CLI when one presses Tab after "thresher us".
    tab = _thresher(env={"_THRESHER_COMPLETE": "complete_bash", "COMP_WORDS": "thresher us",
                         "COMP_CWORD": "1"})
    assert tab.returncode == 0, tab.stderr
    assert tab.stdout.split() == ["users"]
