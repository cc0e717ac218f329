"""``thresher serve`` as a subprocess against a sandbox served over real HTTP (``run_sandbox``).

``ServeProcess`` starts the command with the ``HARVEST_*`` variables of a sandbox (the ``env``
connection), ``--port 0`` and a short sync interval, reads the port from its first line, and
stops it with SIGTERM. Helpers wait for conditions with generous timeouts, never for a time.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.scim import TokenStore
from thresher.serve import AdminAuth
from thresher.store import ServeRecords, Store

T = TypeVar("T")
USER_AGENT = "thresher-serve-tests (tests@example.com)"
_URL = re.compile(r"thresher serve on (http://127\.0\.0\.1:\d+)")


def wait_for(condition: Callable[[], T | None], *, timeout: float = 60.0, what: str = "a condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


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
class ServeProcess:
    process: subprocess.Popen[str]
    url: str
    lines: list[str]
    reader: threading.Thread

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def terminate(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(30)
            self.reader.join(30)
            if self.process.stdout is not None:
                self.process.stdout.close()


def start_serve(env: dict[str, str], *args: str, cwd: Path | None = None) -> ServeProcess:
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}
    process = subprocess.Popen(
        [sys.executable, "-m", "thresher", "serve", "--port", "0", *args],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
    )
    lines: list[str] = []
    found: list[str] = []

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = _URL.search(line)
            if match and not found:
                found.append(match.group(1))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        url = wait_for(lambda: found[0] if found else None if process.poll() is None else "exited",
                       timeout=60, what="thresher serve to print its URL")
        assert url != "exited", "".join(lines)
        running = ServeProcess(process, url, lines, reader)
        with running.client() as http:
            wait_for(lambda: _up(http), timeout=60, what="/healthz")
    except BaseException:
        process.kill()
        process.wait(30)
        reader.join(30)
        if process.stdout is not None:
            process.stdout.close()
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
