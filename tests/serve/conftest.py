"""``thresher serve`` as a subprocess against a sandbox served over real HTTP (``run_sandbox``).

``ServeProcess`` starts the command with the ``HARVEST_*`` variables of a sandbox (the ``env``
connection), ``--port 0`` and a short sync interval, reads the port from its first line, and
stops it with SIGTERM (``thresher_process``, shared with the workers' tests). Helpers wait for
conditions with generous timeouts, never for a time.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import thresher_process
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.scim import TokenStore
from thresher.serve import AdminAuth
from thresher.store import ServeRecords, Store
from thresher_process import ThresherProcess, start_thresher

USER_AGENT = "thresher-serve-tests (tests@example.com)"
wait_for = thresher_process.wait_for
_URL = re.compile(r"thresher serve on (http://127\.0\.0\.1:\d+)")


def sandbox_env(running: RunningSandbox) -> dict[str, str]:
    creds = running.sandbox.credentials
    return {
        "HARVEST_ACCESS_TOKEN": creds.admin_token,
        "HARVEST_ACCOUNT_ID": str(creds.account_id),
        "HARVEST_BASE_URL": running.api_url,
        "HARVEST_ID_URL": running.id_url,
        "HARVEST_USER_AGENT": USER_AGENT,
    }


@dataclasses.dataclass
class ServeProcess(ThresherProcess):
    url: str = ""

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def terminate(self, timeout: float = 60.0) -> int:
        return self.stop(timeout)


def start_serve(env: dict[str, str], *args: str, cwd: Path | None = None) -> ServeProcess:
    found: list[str] = []

    def url_of(line: str) -> None:
        match = _URL.search(line)
        if match and not found:
            found.append(match.group(1))

    started = start_thresher("serve", "--port", "0", *args, env=env, columns=300, cwd=cwd, on_line=url_of)
    process = started.process
    try:
        url = wait_for(lambda: found[0] if found else None if process.poll() is None else "exited",
                       timeout=60, what="thresher serve to print its URL")
        assert url != "exited", started.output
        running = ServeProcess(process, started.lines, started.reader, url)
        with running.client() as http:
            wait_for(lambda: _up(http), timeout=60, what="/healthz")
    except BaseException:
        process.kill()
        started.stop(30)
        raise
    return running


def _up(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


@dataclasses.dataclass
class ServeSetup:
    running: RunningSandbox
    database_url: str
    api_token: str
    scim_token: str
    env: dict[str, str]

    @property
    def sandbox(self) -> Sandbox:
        return self.running.sandbox

    def sandbox_requests(self, path: str = "/v2/users") -> int:
        """How many requests the sandbox answered on ``path`` (its request log)."""
        return sum(1 for r in self.sandbox.state.request_log if r.path == path)


def prepare(running: RunningSandbox, database_url: str) -> ServeSetup:
    with Store.open(database_url) as store:
        _, api_token = AdminAuth(ServeRecords(store)).create_token("tests")
        _, scim_token = TokenStore(store).create("idp")
        AdminAuth(ServeRecords(store)).create_admin("ada", "correct horse battery")
    env = {**sandbox_env(running), "THRESHER_DATABASE_URL": database_url}
    return ServeSetup(running, database_url, api_token, scim_token, env)


@pytest.fixture
def serve_sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox(Sandbox(SandboxConfig(users=30, seed=5, rate_limit=None))) as running:
        yield running


@pytest.fixture
def setup(serve_sandbox: RunningSandbox, sqlite_url: str) -> ServeSetup:
    return prepare(serve_sandbox, sqlite_url)
