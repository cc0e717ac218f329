"""A fresh sandbox served over HTTP per test, and the thresher CLI pointed at it.

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

from thresher.cli import main
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.store import Store

UA = "thresher-tests (tests@example.com)"
SECRET = "test-secret-key-for-thresher-provisioning"


@dataclasses.dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


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
        runner = CliRunner()
        code = 0
        with runner.isolation(input=input, env={**self.env, **(env or {})}) as (out, err, _):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
        result = Result(code, stdout, stderr)
        if ok and code != 0:
            raise AssertionError(f"thresher {' '.join(args)} exited {code}:\n{stdout}\n{stderr}")
        return result

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
