"""``--connection NAME`` naming no saved connection exits 78 (configuration, the README's exit
codes) with one error line, in every command that takes ``--connection``.

The commands are found by walking the command tree, so a new command is covered as soon as it
takes the option; one with a required parameter this file has no value for fails here until one
is added to ``VALUES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer._click import Command
from typer.core import TyperGroup
from typer.testing import CliRunner

from thresher.cli import main
from thresher.cli._app import COMMANDS, load_command
from thresher.store import Store

#: A value for each required parameter, by its name ("{roster}" is a valid roster file).
VALUES: dict[str, list[str]] = {
    "who": ["ada@example.com"],
    "manager": ["lead@example.com"],
    "people": ["ada@example.com"],
    "project": ["14307913"],
    "file": ["{roster}"],
    "method": ["GET"],
    "path": ["/v2/users/me"],
    "email": ["ada@example.com"],
    "first_name": ["Ada"],
    "last_name": ["Lovelace"],
    "name": ["Designers"],
    "old": ["Designers"],
    "new": ["Product Designers"],
    "url": ["http://127.0.0.1:9/thresher"],
}
#: What a command needs beyond its required parameters to get as far as the connection.
EXTRA: dict[str, list[str]] = {
    "users update": ["--first-name", "Ada"],
    "rates set": ["--billable", "150"],
    "webhooks add": ["--allow-private-targets"],
}


def _takes_connection(command: Command) -> bool:
    return any("--connection" in param.opts for param in command.params)


def _commands() -> Iterator[tuple[list[str], Command]]:
    def walk(command: Command, path: list[str]) -> Iterator[tuple[list[str], Command]]:
        if _takes_connection(command):
            yield path, command
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])

    for name in COMMANDS:
        yield from walk(load_command(name), [name])


def _argv(path: list[str], command: Command, roster: Path) -> list[str]:
    argv = list(path)
    for param in command.params:
        if not param.required or isinstance(command, TyperGroup):
            continue
        assert param.name in VALUES, f"thresher {' '.join(path)}: add a value for {param.name!r}"
        values = [v.replace("{roster}", str(roster)) for v in VALUES[param.name]]
        if param.param_type_name == "option":
            argv += [opt for v in values for opt in (param.opts[0], v)]
        else:
            argv += values
    argv += EXTRA.get(" ".join(path), [])
    if any("--yes" in param.opts for param in command.params):
        argv.append("--yes")  # a destructive command would otherwise stop at its confirmation
    return [*argv, "--connection", "ghost"]


CASES = list(_commands())


def test_the_tree_walk_finds_the_commands() -> None:
    found = {" ".join(path) for path, _ in CASES}
    assert {"sync", "users list", "users create", "api", "plan", "apply", "scim serve", "mcp"} <= found


@pytest.fixture(scope="module")
def store_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str | None], Path]:
    """A store with one saved connection (``acme``, the default), and no ``HARVEST_*`` variables:
    nothing here can reach a Harvest."""
    tmp = tmp_path_factory.mktemp("unknown-connection")
    url = f"sqlite:///{tmp / 'thresher.db'}"
    with Store.open(url) as store:
        store.add_connection("acme", 1, is_default=True)
    roster = tmp / "roster.csv"
    roster.write_text("email,first_name,last_name\nada@example.com,Ada,Lovelace\n", encoding="utf-8")
    env: dict[str, str | None] = {
        "THRESHER_DATABASE_URL": url,
        "THRESHER_SECRET_KEY": "test-secret-key-for-unknown-connections",
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "HARVEST_ACCESS_TOKEN": None,
        "HARVEST_ACCOUNT_ID": None,
        "HARVEST_BASE_URL": "http://127.0.0.1:9",
        "HARVEST_ID_URL": "http://127.0.0.1:9",
        "COLUMNS": "200",
    }
    return env, roster


@pytest.mark.parametrize(("path", "command"), CASES, ids=[" ".join(p) for p, _ in CASES])
def test_an_unknown_connection_exits_78(
    path: list[str], command: Command, store_env: tuple[dict[str, str | None], Path]
) -> None:
    env, roster = store_env
    argv = _argv(path, command, roster)
    code = 0
    with CliRunner().isolation(env=env) as (_out, err, _):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        stderr = err.getvalue().decode()
    assert code == 78, f"thresher {' '.join(argv)} exited {code}:\n{stderr}"
    lines = stderr.splitlines()
    assert lines[0] == "Error: no connection named 'ghost'", stderr
    assert lines[1:] == ["Hint: List the configured connections with 'thresher connections list'."]
