"""Fixtures every part's tests may use to talk to a local Harvest (the sandbox).

No test talks to the real Harvest (docs/architecture.md); tests that need one use the sandbox:

* ``sandbox``: a fresh in-process ``Sandbox`` per test, built from ``sandbox_config``. Override
  ``sandbox_config`` in a test module (or a narrower conftest) to change the seed, the size or a
  knob: ``@pytest.fixture def sandbox_config(): return SandboxConfig(users=50, rate_limit=None)``.
* ``sandbox_client``: an ``httpx.AsyncClient`` on that sandbox through ``httpx.ASGITransport``
  (no sockets), with the administrator's headers and base URL ``http://sandbox.test``, so
  ``await sandbox_client.get("/v2/users/me")`` works.
* ``live_sandbox``: one sandbox served by uvicorn on 127.0.0.1 for the whole session (real HTTP;
  no rate limit, so suites of any length run). ``live_sandbox.api_url`` is ``HARVEST_BASE_URL``.
* ``fresh_live_sandbox``: the same server, reset through the control plane before the test
  (fresh data, original settings, empty outbox and request log). Use it whenever a test changes
  anything on the live server.

``harvest_headers(token, account_id)`` builds the three headers Harvest requires (§1). For type
hints, ``from conftest import LiveSandbox, harvest_headers`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, SandboxCredentials, run_sandbox
from thresher.store import Store

# A run started in the background without job control (`nohup pytest &`, some CI runners) has
# SIGINT ignored, and an ignored signal stays ignored across exec: every thresher command the tests
# start would then shrug off the Ctrl-C that tests/cli/test_interrupts.py sends it. A terminal
# gives a command the default disposition; a handler here (reset to the default at exec) does too.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# pytest-xdist's workers (and some shells) export COLUMNS and LINES. The CLI's console
# (thresher/cli/_console.py) fixes its width from COLUMNS when it is imported, which here is during
# collection: an inherited width would then override the COLUMNS each test gives its command
# (tests/cli/test_changes.py reads a table at 200 columns). Tests name the width they need.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

#: The User-Agent tests send (Harvest answers 400 without one, §1.1).
TEST_USER_AGENT = "thresher-tests (tests@example.com)"
#: The live server's data: big enough for several pages at small per_page values.
LIVE_SANDBOX_CONFIG = SandboxConfig(users=40, seed=11, rate_limit=None)


def harvest_headers(token: str, account_id: int, *, user_agent: str = TEST_USER_AGENT) -> dict[str, str]:
    """``Authorization``, ``Harvest-Account-Id`` and ``User-Agent`` for an API request."""
    return {
        "Authorization": f"Bearer {token}",
        "Harvest-Account-Id": str(account_id),
        "User-Agent": user_agent,
    }


@dataclasses.dataclass(frozen=True)
class LiveSandbox:
    """A sandbox served over real HTTP (``run_sandbox``), with helpers for tests.

    ``client`` is an ``httpx.Client`` on ``base_url`` shared by the session (building a client
    per test costs more than most tests: httpx loads the CA bundle each time); it sends no
    default headers, so pass ``headers=live.headers(...)``.
    """

    running: RunningSandbox
    client: httpx.Client

    @property
    def sandbox(self) -> Sandbox:
        return self.running.sandbox

    @property
    def credentials(self) -> SandboxCredentials:
        return self.running.sandbox.credentials

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def api_url(self) -> str:
        return self.running.api_url

    @property
    def id_url(self) -> str:
        return self.running.id_url

    def headers(self, token: str | None = None) -> dict[str, str]:
        """API headers for ``token`` (default: the administrator's)."""
        return harvest_headers(token or self.credentials.admin_token, self.credentials.account_id)

    @property
    def control_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials.control_token}"}

    def control(
        self, method: str, path: str, *, json: object = None, params: dict[str, object] | None = None
    ) -> httpx.Response:
        """Call the control plane (``path`` under ``/sandbox``) and fail the test on an error."""
        response = self.client.request(
            method,
            f"/sandbox{path}",
            headers=self.control_headers,
            json=json,
            params=params,  # type: ignore[arg-type]
        )
        response.raise_for_status()
        return response

    def reset(self) -> None:
        self.control("POST", "/reset")


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """The config of the ``sandbox`` fixture; override it to change the account."""
    return SandboxConfig(users=25, seed=1)


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig) -> Sandbox:
    """A fresh in-process sandbox per test."""
    return Sandbox(sandbox_config)


@pytest.fixture
async def sandbox_client(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An async client on ``sandbox`` through ``httpx.ASGITransport``, as the administrator."""
    creds = sandbox.credentials
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app),
        base_url="http://sandbox.test",
        headers=harvest_headers(creds.admin_token, creds.account_id),
    ) as client:
        yield client


@pytest.fixture(scope="session")
def live_sandbox() -> Iterator[LiveSandbox]:
    """One sandbox on 127.0.0.1 for the session (``LIVE_SANDBOX_CONFIG``)."""
    with (
        run_sandbox(Sandbox(LIVE_SANDBOX_CONFIG)) as running,
        httpx.Client(base_url=running.base_url, timeout=30) as client,
    ):
        yield LiveSandbox(running, client)


@pytest.fixture
def fresh_live_sandbox(live_sandbox: LiveSandbox) -> LiveSandbox:
    """``live_sandbox``, reset through the control plane before the test."""
    live_sandbox.reset()
    return live_sandbox


# -- databases ---------------------------------------------------------------------------

PG_ENV = "THRESHER_TEST_DATABASE_URL"
PG_SKIP = "THRESHER_TEST_DATABASE_URL not set: PostgreSQL tests skipped"


def postgres_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh, empty schema (dropped after the test)."""
    base = postgres_base_url()
    if base is None:
        pytest.skip(PG_SKIP)
    parsed = make_url(base)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    schema = f"thresher_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(parsed)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database, SQLite or PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url = request.getfixturevalue(name)
    assert isinstance(url, str)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated, empty store."""
    with Store.open(database_url) as opened:
        yield opened
