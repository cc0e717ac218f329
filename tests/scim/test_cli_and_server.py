"""``thresher scim token ...`` and ``thresher scim serve``, and the bridge over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from typer.testing import CliRunner

from thresher.cli import main
from thresher.harvest import UserCreate
from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox
from thresher.store import Store

from .servers import _client, serve_bridge


def _thresher(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    runner = CliRunner()
    code = 0
    with runner.isolation(env=env) as (out, err, _):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()


def test_token_commands(tmp_path: Path) -> None:
    env = {"THRESHER_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}", "COLUMNS": "200"}
    code, out, _ = _thresher(
        "scim", "token", "create", "--name", "okta", "--allow-cidr", "10.0.0.0/8", "--json", env=env
    )
    assert code == 0
    created = json.loads(out)
    secret = created["token"]
    assert secret.startswith("thscim_")
    assert created["allowed_cidrs"] == ["10.0.0.0/8"]
    code, out, _ = _thresher("scim", "token", "create", "--name", "audit", "--read-only", env=env)
    assert code == 0
    assert "cannot show it again" in out
    code, _, err = _thresher("scim", "token", "create", "--name", "okta", env=env)
    assert code != 0
    assert "exists already" in err
    code, out, _ = _thresher("scim", "token", "list", env=env)
    assert code == 0
    assert "okta" in out
    assert "read-only" in out
    assert "10.0.0.0/8" in out
    assert secret not in out
    assert secret.split("_")[-1] not in out
    code, out, _ = _thresher("scim", "token", "revoke", "okta", env=env)
    assert code == 0
    code, out, _ = _thresher("scim", "token", "list", "--json", env=env)
    assert [t["name"] for t in json.loads(out)] == ["audit"]
    code, _, err = _thresher("scim", "token", "revoke", "okta", env=env)
    assert code != 0
    assert "no active token" in err


def test_serve_keeps_the_mirror_fresh(store: Store) -> None:
    with serve_bridge(store, SandboxConfig(users=4, seed=6, rate_limit=None), sync_interval=0.2) as running:
        email = f"direct.{uuid.uuid4().hex[:8]}@example.com"

        async def create_in_harvest() -> None:
            async with _client(running.sandbox) as client:
                await client.create_user(UserCreate(first_name="Dee", last_name="Rect", email=email))

        asyncio.run(create_in_harvest())  # made in Harvest directly, not through the bridge
        headers = {"Authorization": f"Bearer {running.token}"}
        with httpx.Client(base_url=running.base_url, headers=headers) as http:
            deadline = time.monotonic() + 10
            while True:
                found = http.get("/Users", params={"filter": f'userName eq "{email}"'}).json()
                if found["totalResults"] == 1:
                    break
                assert time.monotonic() < deadline, "the periodic sync did not bring the user"
                time.sleep(0.1)
            assert http.get("/Users").headers["content-type"].startswith("application/scim+json")


def test_serve_command(tmp_path: Path) -> None:
    with run_sandbox(Sandbox(SandboxConfig(users=3, seed=7, rate_limit=None))) as running:
        creds = running.sandbox.credentials
        env = {
            **os.environ,
            "HARVEST_ACCESS_TOKEN": creds.admin_token,
            "HARVEST_ACCOUNT_ID": str(creds.account_id),
            "HARVEST_USER_AGENT": "thresher-tests (tests@example.com)",
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "THRESHER_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        }
        _code, out, _ = _thresher("scim", "token", "create", "--name", "t", "--json", env=env)
        secret = json.loads(out)["token"]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "thresher", "scim", "serve", "--port", str(port), "--sync-interval", "5"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            url = f"http://127.0.0.1:{port}/scim/v2"
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}) as http:
                deadline = time.monotonic() + 20
                while True:
                    try:
                        r = http.get("/Users")
                        if r.status_code == 200 and r.json()["totalResults"] == 3:
                            break
                    except httpx.TransportError:
                        pass
                    assert process.poll() is None, process.communicate()
                    assert time.monotonic() < deadline, "thresher scim serve did not answer"
                    time.sleep(0.1)
                assert http.get("/Users", headers={"Authorization": "Bearer x"}).status_code == 401
        finally:
            process.terminate()
            process.communicate(timeout=10)
