"""One connection per provider for the conformance tests that run for Harvest and Greenhouse alike.

``provider`` (a fixture, parametrized ``harvest`` / ``greenhouse``) gives a test a saved
connection in a real store, the provider's sandbox in-process, a client on it, the sync engine,
and the provider's vocabulary (what "archive" is called, which exception a failed page raises,
what an idle incremental run costs), so the SAME test function runs for both
(docs/greenhouse.md §6). Where an operation does not exist for a provider, the test says so with
``pytest.skip`` naming the doc, or asserts the provider's "not supported" error.

Use it from a directory's conftest (``from providers import provider``) or a test module; the
Greenhouse half needs ``THRESHER_SECRET_KEY`` (the connection's client secret is sealed), which
the fixture sets.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import httpx
import pytest

from harvest_clients import FAST_RETRY, settings_for
from thresher.connections import save_greenhouse_connection
from thresher.greenhouse import AsyncGreenhouse, GreenhouseSettings
from thresher.greenhouse import ServerError as GreenhouseServerError
from thresher.greenhouse import UserCreate as GreenhouseUserCreate
from thresher.greenhouse import UserUpdate as GreenhouseUserUpdate
from thresher.greenhouse_sandbox import GreenhouseSandbox, GreenhouseSandboxConfig
from thresher.harvest import AsyncHarvest, LimiterRegistry, RetryPolicy
from thresher.harvest import ServerError as HarvestServerError
from thresher.harvest import UserCreate as HarvestUserCreate
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import Store, StoredConnection, mirror_user, user_snapshot
from thresher.sync import GreenhouseSync, RosterSync, SyncOptions

__all__ = ["PROVIDERS", "FailingPages", "Provider", "make_provider", "provider"]

PROVIDERS = ["harvest", "greenhouse"]
GREENHOUSE_ORIGIN = "http://greenhouse.test"
HARVEST_ORIGIN = "http://sandbox.test"
SECRET_KEY = "provider-conformance-tests-secret"

Client = AsyncHarvest | AsyncGreenhouse


class FailingPages(httpx.AsyncBaseTransport):
    """An in-process sandbox transport whose user-listing GETs pass ``after`` more times once
    armed, then answer 500 until healed (the one test seam: thresher's code is not touched)."""

    def __init__(self, app: Any, listing: str) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._listing = re.compile(listing)
        self._left: int | None = None

    def fail(self, *, after: int) -> None:
        self._left = after

    def heal(self) -> None:
        self._left = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._left is not None and request.method == "GET" and self._listing.match(request.url.path):
            if self._left <= 0:
                return httpx.Response(500, json={"error": "injected"}, request=request)
            self._left -= 1
        return await self._inner.handle_async_request(request)


@dataclasses.dataclass
class Provider:
    """A saved connection of one provider on its in-process sandbox, with its vocabulary."""

    name: str
    store: Store
    connection: StoredConnection
    sandbox: Sandbox | GreenhouseSandbox
    #: The roster action (and plan count key) that takes a user's access away.
    archive_action: str
    #: What a failed listing page raises from the client.
    server_error: type[Exception]
    #: Requests an incremental run makes when nothing changed.
    idle_requests: int
    #: The path of the user listing (``FailingPages``).
    listing: str
    #: Requests the bridge makes to take a user's access away (Greenhouse reads the user back).
    archive_requests: int
    _settings: Any = dataclasses.field(repr=False)

    @property
    def is_greenhouse(self) -> bool:
        return self.name == "greenhouse"

    def transport(self) -> FailingPages:
        return FailingPages(self.sandbox.app, self.listing)

    def client(self, transport: httpx.AsyncBaseTransport | None = None, *, retry: bool = True) -> Client:
        """A client on the sandbox in-process (``transport`` to inject failures); ``retry``
        False: a failed request ends the call at once."""
        transport = transport or httpx.ASGITransport(app=self.sandbox.app)
        if isinstance(self._settings, GreenhouseSettings):
            return AsyncGreenhouse(
                self._settings, transport=transport, backoff=0.001, attempts=5 if retry else 1
            )
        return AsyncHarvest(
            self._settings,
            transport=transport,
            limiter_registry=LimiterRegistry(),
            retry=FAST_RETRY if retry else RetryPolicy.never(),
        )

    def engine(self, client: Client, **options: Any) -> RosterSync | GreenhouseSync:
        settings: dict[str, Any] = {"overlap": dt.timedelta(seconds=60), **options}
        if isinstance(client, AsyncGreenhouse):
            return GreenhouseSync(self.store, client, self.connection, SyncOptions(**settings))
        return RosterSync(self.store, client, self.connection, SyncOptions(**settings))

    # -- the provider, read and changed behind the mirror's back ------------------------

    async def truth(self, client: Client) -> dict[int, dict[str, object]]:
        """Every user as the provider (the sandbox) has it now, in the mirror's shape, read
        independently of the store."""
        if isinstance(client, AsyncGreenhouse):
            return {u.id: user_snapshot(mirror_user(u)) async for u in client.list_users()}
        return {u.id: user_snapshot(u) async for u in client.list_users()}

    async def archive(self, client: Client, user_id: int) -> None:
        if isinstance(client, AsyncGreenhouse):
            await client.deactivate_user(user_id)
        else:
            await client.archive_user(user_id)

    async def update(self, client: Client, user_id: int, **fields: str) -> None:
        if isinstance(client, AsyncGreenhouse):
            await client.update_user(user_id, GreenhouseUserUpdate(**fields))
        else:
            await client.update_user(user_id, fields)

    async def create(self, client: Client, first_name: str, last_name: str, email: str) -> int:
        if isinstance(client, AsyncGreenhouse):
            body = GreenhouseUserCreate(first_name=first_name, last_name=last_name, email=email)
            return (await client.create_user(body)).id
        made = await client.create_user(
            HarvestUserCreate(first_name=first_name, last_name=last_name, email=email)
        )
        return made.id

    async def delete(self, client: Client, user_id: int) -> None:
        """The user is gone from the provider: Harvest deletes through its API; Greenhouse deletes
        nobody (docs/greenhouse.md §2), so the user is removed from its sandbox directly."""
        if isinstance(client, AsyncGreenhouse):
            assert isinstance(self.sandbox, GreenhouseSandbox)
            del self.sandbox.state.users[user_id]
        else:
            await client.delete_user(user_id)

    def user(self, user_id: int) -> tuple[str, str, str, bool]:
        """(first name, last name, primary email, active) as the sandbox holds the user."""
        if isinstance(self.sandbox, GreenhouseSandbox):
            gh = self.sandbox.state.users[user_id]
            return (gh.first_name or "", gh.last_name or "", gh.primary_email or "", not gh.deactivated)
        hv = self.sandbox.state.users[user_id]
        return (hv.first_name, hv.last_name, hv.email, hv.is_active)

    def requests(self) -> int:
        """Requests the sandbox has answered so far."""
        if isinstance(self.sandbox, GreenhouseSandbox):
            return len(self.sandbox.requests)
        return len(self.sandbox.state.request_log)


def make_provider(
    name: str,
    store: Store,
    *,
    users: int = 40,
    seed: int = 7,
    connection_name: str = "sandbox",
) -> Provider:
    """A sandbox of ``users`` users and a connection to it saved in ``store``."""
    if name == "harvest":
        sandbox = Sandbox(SandboxConfig(users=users, seed=seed, rate_limit=None))
        connection = store.add_connection(
            connection_name,
            account_id=sandbox.credentials.account_id,
            base_url=f"{HARVEST_ORIGIN}/v2",
            id_url=HARVEST_ORIGIN,
        )
        return Provider(
            name,
            store,
            connection,
            sandbox,
            "archive",
            HarvestServerError,
            2,
            r"^/v2/users$",
            1,
            settings_for(sandbox, HARVEST_ORIGIN),
        )
    assert name == "greenhouse", name
    # Greenhouse lists no service account by default: seed users + the service accounts, so the
    # listing holds ``users`` people like Harvest's.
    gh = GreenhouseSandbox(GreenhouseSandboxConfig(users=users, seed=seed, rate_limit=None))
    cred = gh.credential("full")
    settings = GreenhouseSettings(
        client_id=cred.client_id,
        client_secret=cred.client_secret,
        sub=str(gh.state.admin_id),
        base_url=f"{GREENHOUSE_ORIGIN}/v3",
        token_url=f"{GREENHOUSE_ORIGIN}/token",
        rate_limit=10_000,
        rate_window=1.0,
    )
    resolved = save_greenhouse_connection(store, connection_name, settings, make_default=True)
    return Provider(
        name,
        store,
        resolved.connection,
        gh,
        "deactivate",
        GreenhouseServerError,
        1,
        r"^/v3/users$",
        2,
        settings,
    )


@pytest.fixture(params=PROVIDERS)
def provider_name(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``harvest`` or ``greenhouse``: a test taking it (or ``provider``) runs once for each."""
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET_KEY)
    for var in (
        "GREENHOUSE_SUB",
        "GREENHOUSE_CLIENT_ID",
        "GREENHOUSE_CLIENT_SECRET",
        "GREENHOUSE_RATE_LIMIT",
    ):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(request.param, str)
    return request.param


@pytest.fixture
def provider(provider_name: str, store: Store) -> Provider:
    """A 40-user sandbox of ``provider_name`` and its connection in ``store``."""
    return make_provider(provider_name, store)
