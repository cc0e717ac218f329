"""A sandbox served over HTTP per test, the ``thresher`` CLI run against it as a subprocess, and
OAuth logins made the way a user makes them (``thresher login --oauth``, the browser played by an
HTTP client following the sandbox's redirects).

Each test gets its own sandbox (own port): the client's process-wide rate limiter is keyed by
base URL, and a test that moves the sandbox clock must not move anyone else's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from thresher.connections import Credentials, SecretBox
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.store import Store

CLI_UA = "thresher-cli-tests (tests@example.com)"
SECRET = "test-secret-key-for-thresher-connections"
#: The token endpoint of the identity service (docs/harvest-api.md §5.2).
TOKEN_PATH = "/api/v2/oauth2/token"
#: Far enough past the sandbox's 14-day access tokens that the saved one is refused.
PAST_EXPIRY = dt.timedelta(days=14, hours=1)
#: Subprocesses finish in a few seconds; this only keeps a hung one from hanging the suite.
SUBPROCESS_TIMEOUT = 90


@dataclasses.dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclasses.dataclass
class Site:
    """A running sandbox, a SQLite store file and the environment a user's shell would have.

    ``env`` has no ``HARVEST_ACCESS_TOKEN``/``HARVEST_ACCOUNT_ID``: commands act on saved
    connections unless a test adds them.
    """

    running: RunningSandbox
    database_url: str
    env: dict[str, str]
    control: httpx.Client

    @property
    def sandbox(self) -> Sandbox:
        return self.running.sandbox

    def thresher(self, *args: str, env: dict[str, str] | None = None) -> Run:
        """``python -m thresher ARGS`` in a subprocess of its own."""
        done = subprocess.run(
            [sys.executable, "-m", "thresher", *args],
            env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def login_oauth(self, name: str) -> Credentials:
        """``thresher login --oauth`` in a subprocess; the test approves in place of a browser."""
        creds = self.sandbox.credentials
        proc = subprocess.Popen(
            [sys.executable, "-m", "thresher", "login", "--oauth", "--no-browser", "--name", name,
             "--client-id", creds.oauth_client_id, "--redirect-uri", "http://127.0.0.1:0/callback"],
            env={**self.env, "HARVEST_CLIENT_SECRET": creds.oauth_client_secret},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            url = line.split("authorize thresher: ", 1)[1].strip()
            assert httpx.get(url, follow_redirects=True).status_code == 200
            stdout, stderr = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == 0, stderr
        assert f"saved as connection {name}" in stdout
        saved = self.credentials(name)
        assert saved.kind == "oauth"
        assert saved.refresh_token
        return saved

    def store(self) -> Store:
        return Store.open(self.database_url)

    def credentials(self, name: str) -> Credentials:
        """The decrypted credentials saved for connection ``name``."""
        with self.store() as store:
            blob = store.get_connection(name).credentials_ref
        assert blob is not None
        return SecretBox.from_env({"THRESHER_SECRET_KEY": SECRET}).open(blob)

    def move_clock(self, by: dt.timedelta) -> None:
        """``PUT /sandbox/clock``: expire tokens without waiting."""
        self.control.put(
            "/sandbox/clock", json={"offset_seconds": by.total_seconds()}
        ).raise_for_status()

    def clear_requests(self) -> None:
        self.control.delete("/sandbox/requests").raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        """``GET /sandbox/requests``: what reached the sandbox since the last clear."""
        response = self.control.get("/sandbox/requests")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["requests"]
        return found

    def token_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] == "POST" and r["path"] == TOKEN_PATH]


@pytest.fixture
def connections_sandbox_config() -> SandboxConfig:
    return SandboxConfig(users=8, seed=5, rate_limit=None, oauth_redirect_uri="http://127.0.0.1")


@pytest.fixture
def site(tmp_path: Path, connections_sandbox_config: SandboxConfig) -> Iterator[Site]:
    with run_sandbox(Sandbox(connections_sandbox_config)) as running:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "THRESHER_"))}
        env = {
            **inherited,
            "HARVEST_USER_AGENT": CLI_UA,
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "THRESHER_DATABASE_URL": f"sqlite:///{tmp_path / 'thresher.db'}",
            "THRESHER_SECRET_KEY": SECRET,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "COLUMNS": "200",
        }
        control_headers = {"Authorization": f"Bearer {running.sandbox.credentials.control_token}"}
        with httpx.Client(base_url=running.base_url, headers=control_headers, timeout=30) as control:
            yield Site(running, env["THRESHER_DATABASE_URL"], env, control)
