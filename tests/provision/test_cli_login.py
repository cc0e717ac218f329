"""Credentials: login with a token or OAuth, saved connections, encryption."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from thresher.connections import Credentials, SecretBox, default_key_path
from thresher.sandbox import SandboxConfig

from .conftest import UA, Cli

NO_ENV_TOKEN: dict[str, str | None] = {"HARVEST_ACCESS_TOKEN": None, "HARVEST_ACCOUNT_ID": None}


def _raw_credentials(cli: Cli) -> list[str]:
    engine = create_engine(cli.database_url)
    with engine.connect() as conn:
        rows = [r[0] or "" for r in conn.execute(text("SELECT credentials_ref FROM connections"))]
    engine.dispose()
    return rows


def test_login_with_a_token_from_stdin_saves_it_encrypted(cli: Cli) -> None:
    token = cli.sandbox.credentials.admin_token
    result = cli("login", "--name", "acme", "--token-stdin", input=token + "\n", env=NO_ENV_TOKEN)
    assert "saved as connection acme" in result.stdout
    assert token not in result.stdout + result.stderr
    blobs = _raw_credentials(cli)
    assert blobs
    assert all(token not in blob for blob in blobs)

    connections = cli("connections", "list", "--json", env=NO_ENV_TOKEN).stdout
    assert '"name": "acme"' in connections
    assert token not in connections
    # With the HARVEST_* variables unset, the saved default connection is used.
    created = cli(
        "users", "create", "--email", "new@example.com", "--first-name", "N", "--last-name", "Ew",
        env=NO_ENV_TOKEN,
    )
    assert "new@example.com" in created.stdout
    cli("connections", "remove", "acme", "--yes", env=NO_ENV_TOKEN)
    gone = cli("users", "list", env=NO_ENV_TOKEN, ok=False)
    assert gone.exit_code == 78  # configuration: no connection (README, "Exit codes")
    assert "thresher login" in gone.stderr


def test_login_warns_when_the_token_is_not_an_administrators(cli: Cli) -> None:
    result = cli(
        "login", "--token", cli.sandbox.credentials.member_token, "--json", env=NO_ENV_TOKEN
    )
    assert "not an administrator" in result.stderr
    assert '"administrator": false' in result.stdout


def test_login_refuses_an_account_the_token_cannot_reach(cli: Cli) -> None:
    result = cli(
        "login", "--token", cli.sandbox.credentials.admin_token, "--account-id", "999",
        env=NO_ENV_TOKEN, ok=False,
    )
    assert result.exit_code == 1
    assert "cannot reach Harvest account 999" in result.stderr


def test_the_key_file_is_created_with_mode_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THRESHER_SECRET_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    box = SecretBox.from_env()
    path = default_key_path()
    assert path.is_relative_to(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = Credentials(kind="pat", access_token="s3cret-token-value", user_agent=UA)
    blob = box.seal(creds)
    assert "s3cret" not in blob
    assert "s3cret" not in repr(creds)
    assert SecretBox.from_env().open(blob) == creds  # the same key is read back
    wrong = SecretBox.from_env({"THRESHER_SECRET_KEY": "another key"})
    with pytest.raises(Exception, match="cannot be decrypted"):
        wrong.open(blob)


@pytest.fixture
def sandbox_for_cli() -> SandboxConfig:
    # Tokens live 100 s, inside the client's 300 s refresh margin: every use refreshes first.
    return SandboxConfig(
        users=8, seed=5, rate_limit=None, oauth_redirect_uri="http://127.0.0.1", token_ttl_seconds=100
    )


def test_oauth_login_over_http_and_refreshed_tokens_are_saved(cli: Cli) -> None:
    creds = cli.sandbox.credentials
    env = {k: v for k, v in {**os.environ, **cli.env}.items() if not k.startswith("HARVEST_ACC")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "thresher", "login", "--oauth", "--no-browser", "--name", "oauth",
         "--client-id", creds.oauth_client_id, "--redirect-uri", "http://127.0.0.1:0/callback"],
        env={**env, "HARVEST_CLIENT_SECRET": creds.oauth_client_secret},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = line.split("authorize thresher: ", 1)[1].strip()
        assert "state=" in url
        # A redirect with a forged state is refused and does not end the login.
        forged = httpx.get(url.replace("state=", "state=x"), follow_redirects=True)
        assert forged.status_code == 400
        answer = httpx.get(url, follow_redirects=True)  # the browser: authorize, then redirect
        assert answer.status_code == 200
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "saved as connection oauth" in stdout
    before = _raw_credentials(cli)
    box = SecretBox.from_env({"THRESHER_SECRET_KEY": cli.env["THRESHER_SECRET_KEY"]})
    first = box.open(before[0])
    assert first.kind == "oauth"
    assert first.refresh_token
    assert first.access_token not in before[0]

    cli("teammates", "show", "--connection", "oauth", str(first.user_id), env=NO_ENV_TOKEN, ok=False)
    after = box.open(_raw_credentials(cli)[0])
    assert after.access_token != first.access_token  # refreshed and saved back, sealed
    assert after.refresh_token
    assert after.refresh_token != first.refresh_token


def test_prompted_token_is_not_echoed_and_connections_use_switches_default(cli: Cli) -> None:
    admin, manager = cli.sandbox.credentials.admin_token, cli.sandbox.credentials.manager_token
    first = cli("login", "--name", "admin", input=admin + "\n", env=NO_ENV_TOKEN)
    assert "Personal access token" in first.stdout
    assert admin not in first.stdout
    cli("login", "--name", "mgr", "--no-default", input=manager + "\n", env=NO_ENV_TOKEN)
    listed = cli.json("connections", "list")
    assert {c["name"]: c["is_default"] for c in listed} == {"admin": True, "mgr": False}
    cli("connections", "use", "mgr", env=NO_ENV_TOKEN)
    listed = cli.json("connections", "list")
    assert {c["name"]: c["is_default"] for c in listed} == {"admin": False, "mgr": True}
    # Flags beat the environment: --connection picks the saved manager token although the
    # HARVEST_* variables (an administrator's) are set, and Harvest refuses the manager.
    refused = cli(
        "users", "create", "--connection", "mgr", "--email", "z@example.com", "--first-name", "Z",
        "--last-name", "Z", ok=False,
    )
    assert refused.exit_code != 0
    assert "z@example.com" not in cli.users_by_email()
