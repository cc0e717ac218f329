"""``thresher login --provider greenhouse``, ``connections list/test``, ``sync``, ``users`` and
``changes`` on a Greenhouse connection, and the errors a user meets, each naming its fix with
its exit code (README, "Exit codes"): the CLI in-process through ``main``, the Greenhouse sandbox
over real HTTP, a real SQLite store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from thresher.cli import main
from thresher.greenhouse import ALL_SCOPES

from .conftest import Target

SECRET_KEY = "greenhouse-cli-tests-secret"


@dataclasses.dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclasses.dataclass
class GreenhouseCli:
    target: Target
    database_url: str

    def __call__(
        self, *args: str, ok: bool = True, input: str | None = None, env: dict[str, str | None] | None = None
    ) -> Result:
        base: dict[str, str | None] = {
            "THRESHER_DATABASE_URL": self.database_url,
            "THRESHER_SECRET_KEY": SECRET_KEY,
            "GREENHOUSE_RATE_LIMIT": "10000/1s",
            "HARVEST_ACCESS_TOKEN": None,
            "HARVEST_ACCOUNT_ID": None,
            "HARVEST_CLIENT_ID": None,
            "HARVEST_CLIENT_SECRET": None,
            "GREENHOUSE_CLIENT_SECRET": None,
            "GREENHOUSE_CLIENT_ID": None,
            "GREENHOUSE_SUB": None,
        }
        runner = CliRunner()
        code = 0
        with runner.isolation(input=input, env={**base, **(env or {})}) as (out, err, _):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
        if ok and code != 0:
            raise AssertionError(f"thresher {' '.join(args)} exited {code}:\n{stdout}\n{stderr}")
        return Result(code, stdout, stderr)

    def login(
        self,
        *extra: str,
        credential: str = "full",
        sub: str | None = None,
        ok: bool = True,
        secret: str | None = None,
    ) -> Result:
        s = self.target.sandbox
        cred = s.credential(credential)
        return self(
            "login",
            "--provider",
            "greenhouse",
            "--name",
            "gh",
            "--client-id",
            cred.client_id,
            "--sub",
            sub if sub is not None else str(s.state.admin_id),
            "--client-secret-stdin",
            "--base-url",
            f"{self.target.origin}/v3",
            "--token-url",
            f"{self.target.origin}/token",
            *extra,
            input=(secret if secret is not None else cred.client_secret) + "\n",
            ok=ok,
        )


@pytest.fixture
def gcli(live_target: Target, tmp_path: Path) -> GreenhouseCli:
    return GreenhouseCli(live_target, f"sqlite:///{tmp_path / 'thresher.db'}")


def test_login_saves_a_greenhouse_connection_without_showing_the_secret(gcli: GreenhouseCli) -> None:
    secret = gcli.target.sandbox.credential("full").client_secret
    result = gcli.login("--json")
    assert result.json()["provider"] == "greenhouse"
    assert secret not in result.stdout + result.stderr
    listed = gcli("connections", "list", "--json").json()
    assert [(c["name"], c["provider"]) for c in listed] == [("gh", "greenhouse")]
    assert secret not in json.dumps(listed)
    table = gcli("connections", "list").stdout
    assert "greenhouse" in table


def test_a_secret_on_the_command_line_is_refused(gcli: GreenhouseCli) -> None:
    cred = gcli.target.sandbox.credential("full")
    result = gcli(
        "login",
        "--provider",
        "greenhouse",
        "--client-id",
        cred.client_id,
        "--client-secret",
        cred.client_secret,
        "--base-url",
        f"{gcli.target.origin}/v3",
        "--token-url",
        f"{gcli.target.origin}/token",
        ok=False,
    )
    assert result.exit_code == 2
    assert "--client-secret-stdin" in result.stderr
    assert cred.client_secret not in result.stdout + result.stderr


def test_the_secret_may_come_from_the_environment(gcli: GreenhouseCli) -> None:
    s = gcli.target.sandbox
    cred = s.credential("full")
    gcli(
        "login",
        "--provider",
        "greenhouse",
        "--client-id",
        cred.client_id,
        "--sub",
        str(s.state.admin_id),
        "--base-url",
        f"{gcli.target.origin}/v3",
        "--token-url",
        f"{gcli.target.origin}/token",
        env={"GREENHOUSE_CLIENT_SECRET": cred.client_secret},
    )
    assert gcli("connections", "list", "--json").json()[0]["provider"] == "greenhouse"


def test_a_sub_that_is_not_a_site_admin_is_refused_with_the_fix(gcli: GreenhouseCli) -> None:
    result = gcli.login(sub=str(gcli.target.sandbox.state.basic_id), ok=False)
    assert result.exit_code == 77
    assert "GREENHOUSE_SUB" in result.stderr or "Site Admin" in result.stderr
    assert gcli("connections", "list", "--json").json() == []


def test_an_unknown_sub_is_a_configuration_error(gcli: GreenhouseCli) -> None:
    result = gcli.login(sub="999999999", ok=False)
    assert result.exit_code == 78
    assert "GREENHOUSE_SUB" in result.stderr


def test_a_missing_scope_is_named_with_where_to_add_it(gcli: GreenhouseCli) -> None:
    cred = gcli.target.sandbox.credential("full")
    cred.scopes = set(ALL_SCOPES) - {"harvest:users:list"}
    result = gcli.login(ok=False)
    assert result.exit_code == 77
    assert "harvest:users:list" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_secret_is_an_invalid_client(gcli: GreenhouseCli) -> None:
    result = gcli.login(secret="not-the-secret", ok=False)
    assert result.exit_code == 77
    assert "not-the-secret" not in result.stdout + result.stderr


def test_sync_users_and_changes_work_on_a_greenhouse_connection(gcli: GreenhouseCli) -> None:
    gcli.login()
    report = gcli("sync", "--json").json()
    state = gcli.target.sandbox.state
    listed = [u for u in state.users.values() if not u.service_account]
    assert report["users_seen"] == len(listed)
    users = gcli("users", "list", "--json").json()
    assert len(users) == len(listed)
    admins = {u["id"] for u in users if "site_admin" in u["access_roles"]}
    assert admins == {u.id for u in listed if u.site_admin}
    admin = state.users[state.admin_id]
    shown = gcli("users", "show", str(admin.id), "--json").json()
    assert shown["email"] == admin.primary_email
    changes = gcli("changes", "--json").stdout
    assert "created" in changes


def test_a_revoked_credential_stops_sync_with_the_fix(gcli: GreenhouseCli) -> None:
    gcli.login()
    cred = gcli.target.sandbox.credential("full")
    cred.revoked = True
    result = gcli("sync", "--full", ok=False)
    assert result.exit_code == 77
    assert "credential" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_an_expired_token_is_renewed_not_an_error(gcli: GreenhouseCli) -> None:
    gcli.login()
    gcli("sync")
    gcli.target.sandbox.clock_offset = 7200.0  # the saved token's hour is long over
    try:
        gcli("sync", "--full")
    finally:
        gcli.target.sandbox.clock_offset = 0.0


def test_a_harvest_only_command_says_it_does_not_exist_for_greenhouse(gcli: GreenhouseCli) -> None:
    gcli.login()
    result = gcli(
        "users",
        "create",
        "--email",
        "new@example.com",
        "--first-name",
        "N",
        "--last-name",
        "E",
        ok=False,
    )
    assert result.exit_code == 2
    assert "does not exist for Greenhouse connections" in result.stderr
    for command in (("roles", "list"), ("teammates", "show", "x@example.com"), ("offboard", "x@example.com")):
        refused = gcli(*command, ok=False)
        assert refused.exit_code == 2, (command, refused)
        assert "does not exist for Greenhouse connections" in refused.stderr


def test_connections_test_reports_each_read_scope(gcli: GreenhouseCli) -> None:
    gcli.login()
    checks = gcli("connections", "test", "gh", "--json").json()["checks"]
    assert all(c["ok"] for c in checks)
    cred = gcli.target.sandbox.credential("full")
    cred.scopes = set(ALL_SCOPES) - {"harvest:user_roles:list"}
    result = gcli("connections", "test", "gh")
    assert "missing" in result.stdout
    assert "harvest:user_roles:list" in result.stdout


def test_plan_and_apply_a_greenhouse_roster(gcli: GreenhouseCli, tmp_path: Path) -> None:
    gcli.login()
    roster = tmp_path / "roster.csv"
    roster.write_text("email,first_name,last_name,employee_id\ncli.hire@example.com,Cli,Hire,E-5\n")
    plan = gcli("plan", str(roster), "--json").json()
    assert plan["counts"] == {"create": 1}
    assert plan["provider"] == "greenhouse"
    refused = gcli("apply", str(roster), ok=False)
    assert refused.exit_code != 0
    assert "--yes" in refused.stderr
    applied = gcli("apply", str(roster), "--yes", "--json").json()
    assert applied["applied"] == {"create": 1}
    assert "No changes" in gcli("plan", str(roster)).stdout
    gcli("plan", str(roster), "-o", str(tmp_path / "plan.json"))  # saved plans: test_saved_plans.py
    assert json.loads((tmp_path / "plan.json").read_text())["provider"] == "greenhouse"
