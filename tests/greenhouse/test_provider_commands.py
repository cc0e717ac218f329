"""Every everyday command on a Greenhouse connection either works or says clearly that the
operation does not exist for Greenhouse, with the README's usage exit code (2) and no
traceback; and ``users list --access-role`` checks the value against the connection's own
product (docs/greenhouse.md §6). The CLI in-process through ``main``, the Greenhouse sandbox
over real HTTP, a real SQLite store; one login and sync per module, since no command here
changes Greenhouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from thresher.greenhouse_sandbox import GreenhouseSandbox, GreenhouseSandboxConfig, run_greenhouse_sandbox
from thresher.store import Store

from .conftest import Target
from .test_provider_cli import GreenhouseCli

UNSUPPORTED = "does not exist for Greenhouse connections"


@pytest.fixture(scope="module")
def gcli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GreenhouseCli]:
    """A logged-in, synced Greenhouse connection on a sandbox of this module's own."""
    sandbox = GreenhouseSandbox(GreenhouseSandboxConfig(users=12, seed=41, rate_limit=None))
    with run_greenhouse_sandbox(sandbox) as running:
        target = Target(sandbox, running.base_url, lambda: None)
        db = tmp_path_factory.mktemp("gh-commands") / "thresher.db"
        cli = GreenhouseCli(target, f"sqlite:///{db}")
        cli.login()
        cli("sync")
        admin = sandbox.state.users[sandbox.state.admin_id]
        # A roster Greenhouse already matches: plan and apply work, and change nothing.
        (db.parent / "roster.csv").write_text(
            f"email,first_name,last_name\n{admin.primary_email},{admin.first_name},{admin.last_name}\n"
        )
        yield cli


def _someone(gcli: GreenhouseCli) -> str:
    state = gcli.target.sandbox.state
    user = next(u for u in state.users.values() if u.id != state.admin_id and u.primary_email)
    assert user.primary_email is not None
    return user.primary_email


#: Harvest-only operations: (command line, with {who} for a user's email).
HARVEST_ONLY = [
    ("users", "create", "--email", "new@example.com", "--first-name", "N", "--last-name", "E"),
    ("users", "update", "{who}", "--first-name", "Renamed"),
    ("users", "archive", "{who}"),
    ("users", "restore", "{who}"),
    ("users", "delete", "{who}", "--yes"),
    ("offboard", "{who}", "--yes"),
    ("assign", "{who}", "--project", "1"),
    ("unassign", "{who}", "--project", "1"),
    ("roles", "list"),
    ("roles", "create", "Designers"),
    ("roles", "rename", "Designers", "Design"),
    ("roles", "delete", "Designers", "--yes"),
    ("roles", "add-member", "Designers", "{who}"),
    ("roles", "remove-member", "Designers", "{who}"),
    ("teammates", "show", "{who}"),
    ("teammates", "set", "{who}", "{who}"),
    ("teammates", "add", "{who}", "{who}"),
    ("teammates", "remove", "{who}", "{who}"),
    ("rates", "set", "{who}", "--billable", "100"),
    ("accounts", "list"),
    ("api", "GET", "/v3/users"),
]


@pytest.mark.parametrize("command", HARVEST_ONLY, ids=lambda c: " ".join(c[:2]))
def test_a_harvest_only_command_says_so_with_exit_2(gcli: GreenhouseCli, command: tuple[str, ...]) -> None:
    who = _someone(gcli)
    before = len(gcli.target.sandbox.requests)
    result = gcli(*(who if part == "{who}" else part for part in command), ok=False)
    assert result.exit_code == 2, result
    assert UNSUPPORTED in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    writes = [r for r in list(gcli.target.sandbox.requests)[before:] if r["method"] != "GET"]
    assert [w for w in writes if w["path"] != "/token"] == []


#: Operations that work on a Greenhouse connection, and something each must print.
WORKING = [
    (("sync",), "users"),
    (("users", "list"), "{who}"),
    (("users", "list", "--access-role", "site_admin"), "{admin}"),
    (("users", "show", "{who}"), "{who}"),
    (("changes",), "created"),
    (("connections", "list"), "greenhouse"),
    (("connections", "test"), "harvest:users:list"),
    (("plan", "{roster}"), "No changes"),
    (("plan", "{roster}", "-o", "{saved}"), "Saved the plan"),
    (("apply", "{roster}", "--yes"), "No changes"),
]


@pytest.mark.parametrize(
    ("command", "shown"), WORKING, ids=lambda c: " ".join(c) if isinstance(c, tuple) else ""
)
def test_an_everyday_command_works(gcli: GreenhouseCli, command: tuple[str, ...], shown: str) -> None:
    state = gcli.target.sandbox.state
    admin = state.users[state.admin_id].primary_email
    assert admin is not None
    folder = Path(gcli.database_url.removeprefix("sqlite:///")).parent
    values = {
        "{who}": _someone(gcli),
        "{admin}": admin,
        "{roster}": str(folder / "roster.csv"),
        "{saved}": str(folder / "plan.json"),
    }
    result = gcli(*(values.get(part, part) for part in command))
    assert values.get(shown, shown) in result.stdout + result.stderr


def test_site_admin_lists_exactly_the_site_admins(gcli: GreenhouseCli) -> None:
    state = gcli.target.sandbox.state
    listed = gcli("users", "list", "--access-role", "SITE_ADMIN", "--json").json()
    admins = {u.id for u in state.users.values() if u.site_admin and not u.service_account}
    assert {u["id"] for u in listed} == admins
    assert admins  # the seed has Site Admins (the first user is one)


def test_a_harvest_access_role_is_refused_with_greenhouse_s_values(gcli: GreenhouseCli) -> None:
    result = gcli("users", "list", "--access-role", "manager", ok=False)
    assert result.exit_code == 2
    assert "not a Greenhouse permission level" in result.stderr
    assert "site_admin" in result.stderr
    assert "administrator" not in result.stderr  # Harvest's vocabulary is not offered


@pytest.mark.parametrize("level", ["job_admin", "basic"])
def test_levels_the_mirror_cannot_tell_apart_are_refused_saying_why(gcli: GreenhouseCli, level: str) -> None:
    result = gcli("users", "list", "--access-role", level, ok=False)
    assert result.exit_code == 2
    assert "job permissions" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_harvest_connection_still_gets_harvest_s_vocabulary(tmp_path: Path) -> None:
    """The check follows the connection: a Greenhouse value on a Harvest connection is refused
    with Harvest's list."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    with Store.open(url):
        pass
    cli = GreenhouseCli(
        Target(GreenhouseSandbox(GreenhouseSandboxConfig(users=3)), "http://x", lambda: None), url
    )
    env: dict[str, str | None] = {
        "HARVEST_ACCESS_TOKEN": "t",
        "HARVEST_ACCOUNT_ID": "1",
        "HARVEST_USER_AGENT": "tests (t@example.com)",
    }
    result = cli("users", "list", "--access-role", "site_admin", ok=False, env=env)
    assert result.exit_code == 2
    assert "not a Harvest access role" in result.stderr
    assert "administrator" in result.stderr
