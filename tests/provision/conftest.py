"""A fresh sandbox served over HTTP per test, and the thresher CLI pointed at it (``cli``: Harvest
through the environment; ``provider_cli``: a saved Harvest or Greenhouse connection).

Each test gets its own server (own port), so the client's per-account rate limiter, which is
shared by everything in the process, gives every test a full window of its own.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from providers import provider_name
from thresher.cli import main
from thresher.greenhouse_sandbox import GreenhouseSandbox, GreenhouseSandboxConfig, run_greenhouse_sandbox
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.store import Store

__all__ = ["Cli", "ProviderCli", "cli", "provider_cli", "provider_name", "sandbox_for_cli"]

UA = "thresher-tests (tests@example.com)"
SECRET = "test-secret-key-for-thresher-provisioning"


@dataclasses.dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


def _run(base: dict[str, str], args: tuple[str, ...], *, ok: bool, input: str | None,
         env: dict[str, str | None] | None) -> Result:
    """Run ``thresher ARGS`` in-process through ``main`` with the environment ``base`` + ``env``."""
    runner = CliRunner()
    code = 0
    with runner.isolation(input=input, env={**base, **(env or {})}) as (out, err, _):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    result = Result(code, stdout, stderr)
    if ok and code != 0:
        raise AssertionError(f"thresher {' '.join(args)} exited {code}:\n{stdout}\n{stderr}")
    return result


@dataclasses.dataclass
class Cli:
    running: RunningSandbox
    database_url: str
    env: dict[str, str]
    tmp: Path

    @property
    def sandbox(self) -> Sandbox:
        return self.running.sandbox

    def __call__(self, *args: str, ok: bool = True, input: str | None = None,
                 env: dict[str, str | None] | None = None) -> Result:
        """Run ``thresher ARGS`` in-process through ``main`` (errors render as for a user)."""
        return _run(self.env, args, ok=ok, input=input, env=env)

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def store(self) -> Store:
        return Store.open(self.database_url)

    def users_by_email(self) -> dict[str, Any]:
        return {u.email.casefold(): u for u in self.sandbox.state.users.values()}


@pytest.fixture
def sandbox_for_cli() -> SandboxConfig:
    return SandboxConfig(users=12, seed=5, rate_limit=None, oauth_redirect_uri="http://127.0.0.1")


@pytest.fixture
def cli(tmp_path: Path, sandbox_for_cli: SandboxConfig) -> Iterator[Cli]:
    with run_sandbox(Sandbox(sandbox_for_cli)) as running:
        creds = running.sandbox.credentials
        db = f"sqlite:///{tmp_path / 'thresher.db'}"
        env = {
            "HARVEST_ACCESS_TOKEN": creds.admin_token,
            "HARVEST_ACCOUNT_ID": str(creds.account_id),
            "HARVEST_USER_AGENT": UA,
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "THRESHER_DATABASE_URL": db,
            "THRESHER_SECRET_KEY": SECRET,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "COLUMNS": "200",
        }
        yield Cli(running, db, env, tmp_path)


# -- the CLI on a Harvest or a Greenhouse connection (tests/providers.py) ------------------------


@dataclasses.dataclass
class ProviderCli:
    """``thresher`` on a saved connection of ``provider`` (its sandbox over real HTTP, a real
    SQLite store), with the vocabulary the roster conformance tests need: the file's ``header``
    (five columns, the last ``active``, for either column set), what a prune does to a user
    (``archive``: Harvest archives, Greenhouse deactivates), and the user the connection acts as
    (``owner_id``: the token's owner, or Greenhouse's ``sub``), whom a prune never touches."""

    provider: str
    database_url: str
    env: dict[str, str]
    tmp: Path
    sandbox: Sandbox | GreenhouseSandbox
    header: str
    archive: str
    owner_id: int
    #: The roster action that gives an archived (deactivated) user access again.
    restore: str
    #: Whether a create sends an invitation email (Harvest does; Greenhouse's create does not).
    invites: bool

    def __call__(self, *args: str, ok: bool = True, input: str | None = None,
                 env: dict[str, str | None] | None = None) -> Result:
        return _run(self.env, args, ok=ok, input=input, env=env)

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def store(self) -> Store:
        return Store.open(self.database_url)

    def active(self) -> list[tuple[int, str, str, str]]:
        """(id, email, first name, last name) of every active user but the owner."""
        if isinstance(self.sandbox, GreenhouseSandbox):
            people = [
                (u.id, u.primary_email or "", u.first_name or "", u.last_name or "")
                for u in self.sandbox.state.users.values()
                if not u.deactivated and not u.service_account and u.primary_email
            ]
        else:
            people = [
                (u.id, u.email, u.first_name, u.last_name)
                for u in self.sandbox.state.users.values()
                if u.is_active
            ]
        return sorted(p for p in people if p[0] != self.owner_id)

    def inactive(self) -> list[tuple[int, str, str, str]]:
        """(id, email, first name, last name) of every archived (deactivated) person."""
        if isinstance(self.sandbox, GreenhouseSandbox):
            people = [
                (u.id, u.primary_email or "", u.first_name or "", u.last_name or "")
                for u in self.sandbox.state.users.values()
                if u.deactivated and not u.service_account and u.primary_email
            ]
        else:
            people = [
                (u.id, u.email, u.first_name, u.last_name)
                for u in self.sandbox.state.users.values()
                if not u.is_active
            ]
        return sorted(people)

    def user(self, user_id: int) -> tuple[str, str, bool]:
        """(first name, last name, active) as the sandbox holds the user."""
        if isinstance(self.sandbox, GreenhouseSandbox):
            gh = self.sandbox.state.users[user_id]
            return (gh.first_name or "", gh.last_name or "", not gh.deactivated)
        hv = self.sandbox.state.users[user_id]
        return (hv.first_name, hv.last_name, hv.is_active)

    def emails_sent(self) -> int:
        """Invitations (Harvest) or any email (Greenhouse's outbox) the sandbox sent."""
        return len(self.sandbox.state.outbox)

    def is_active(self, user_id: int) -> bool:
        if isinstance(self.sandbox, GreenhouseSandbox):
            return not self.sandbox.state.users[user_id].deactivated
        return self.sandbox.state.users[user_id].is_active

    def users_by_email(self) -> dict[str, int]:
        if isinstance(self.sandbox, GreenhouseSandbox):
            return {(u.primary_email or "").casefold(): u.id for u in self.sandbox.state.users.values()}
        return {u.email.casefold(): u.id for u in self.sandbox.state.users.values()}

    def requests(self) -> int:
        if isinstance(self.sandbox, GreenhouseSandbox):
            return len(self.sandbox.requests)
        return len(self.sandbox.state.request_log)

    def writes(self, since: int) -> list[tuple[str, str]]:
        """The writes the sandbox saw after the ``since``-th request (minting a token is none)."""
        if isinstance(self.sandbox, GreenhouseSandbox):
            log = [(str(r.get("method")), str(r.get("path"))) for r in list(self.sandbox.requests)[since:]]
        else:
            log = [(r.method, r.path) for r in list(self.sandbox.state.request_log)[since:]]
        return [(m, p) for m, p in log if m != "GET" and p != "/token"]


@pytest.fixture
def provider_cli(request: pytest.FixtureRequest, provider_name: str, tmp_path: Path) -> Iterator[ProviderCli]:
    """The CLI on a ``provider_name`` connection; ``sandbox_for_cli`` sizes either sandbox."""
    config: SandboxConfig = request.getfixturevalue("sandbox_for_cli")
    db = f"sqlite:///{tmp_path / 'thresher.db'}"
    base = {
        "THRESHER_DATABASE_URL": db,
        "THRESHER_SECRET_KEY": SECRET,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "200",
    }
    if provider_name == "harvest":
        with run_sandbox(Sandbox(config)) as running:
            creds = running.sandbox.credentials
            env = {
                **base,
                "HARVEST_ACCESS_TOKEN": creds.admin_token,
                "HARVEST_ACCOUNT_ID": str(creds.account_id),
                "HARVEST_USER_AGENT": UA,
                "HARVEST_BASE_URL": running.api_url,
                "HARVEST_ID_URL": running.id_url,
            }
            owner = running.sandbox.user_for_token(creds.admin_token)
            assert owner is not None
            yield ProviderCli(
                provider_name,
                db,
                env,
                tmp_path,
                running.sandbox,
                "email,first_name,last_name,roles,active\n",
                "archive",
                owner.id,
                "restore",
                True,
            )
        return
    # Greenhouse's seed counts service accounts and more deactivated users among its users: a
    # third more gives about as many active people as Harvest's seed of the same size.
    users = config.users + config.users // 3
    sandbox = GreenhouseSandbox(GreenhouseSandboxConfig(users=users, seed=config.seed, rate_limit=None))
    with run_greenhouse_sandbox(sandbox) as gh:
        env = {**base, "GREENHOUSE_RATE_LIMIT": "10000/1s"}
        cli = ProviderCli(
            provider_name,
            db,
            env,
            tmp_path,
            sandbox,
            "email,first_name,last_name,employee_id,active\n",
            "deactivate",
            sandbox.state.admin_id,
            "activate",
            False,
        )
        cred = sandbox.credential("full")
        cli(
            "login",
            "--provider",
            "greenhouse",
            "--name",
            "gh",
            "--client-id",
            cred.client_id,
            "--sub",
            str(sandbox.state.admin_id),
            "--client-secret-stdin",
            "--base-url",
            gh.api_url,
            "--token-url",
            gh.token_url,
            input=cred.client_secret + "\n",
        )
        yield cli
