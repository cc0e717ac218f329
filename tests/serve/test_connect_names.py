"""The "connect a Harvest account" page never overwrites a connection by accident: ``env`` (the
``HARVEST_*`` variables' connection) is refused, and so is an existing name unless the admin ticks
"replace", and then only for the same account. ``thresher login``'s saving refuses alike.

In process: the service over ``httpx.ASGITransport`` (signed in by a trusted proxy's header), and
the sandbox's Harvest ID and API as the service's transport, so the browser's round trip through
Harvest ID is two in-process clients.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator

import httpx
import pytest

from harvest_clients import settings_for
from thresher.connections import (
    ENV_CONNECTION,
    ConnectionMismatchError,
    Credentials,
    SecretBox,
    save_connection,
)
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.serve import ServeSettings, Service
from thresher.store import Store

SERVE = "http://serve.test"
SANDBOX = "http://sandbox.test"
HEADER = "X-Forwarded-User"
PROXY = "10.0.0.5"
SECRET = "serve-tests-secret-key-for-sealed-credentials"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET)
    return Sandbox(SandboxConfig(users=5, seed=3, rate_limit=None, oauth_redirect_uri=SERVE))


@pytest.fixture
def service(store: Store, sandbox: Sandbox) -> Service:
    creds = sandbox.credentials
    settings = ServeSettings.model_validate({
        "scim": {"enabled": False},
        "dashboard": {"admin_header": HEADER, "trusted_proxies": [f"{PROXY}/32"]},
        "oauth": {"client_id": creds.oauth_client_id, "client_secret": creds.oauth_client_secret,
                  "id_url": SANDBOX, "api_url": f"{SANDBOX}/v2",
                  "user_agent": "thresher-serve-tests (tests@example.com)"},
    })
    return Service(settings, store, transport=httpx.ASGITransport(app=sandbox.app))


@pytest.fixture
async def browser(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.app, client=(PROXY, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=SERVE, headers={HEADER: "ada"}) as client:
        yield client


@pytest.fixture
async def harvest_id(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=SANDBOX) as client:
        yield client


async def _submit(browser: httpx.AsyncClient, name: str, *, replace: bool = False) -> httpx.Response:
    page = await browser.get("/connect")
    found = _CSRF.search(page.text)
    assert found, page.text
    form = {"csrf": found.group(1), "name": name} | ({"replace": "yes"} if replace else {})
    return await browser.post("/connect", data=form)


def _error(response: httpx.Response) -> str | None:
    assert response.status_code == 303, response.text
    location = urllib.parse.urlsplit(response.headers["location"])
    assert location.path == "/connect"
    return urllib.parse.parse_qs(location.query).get("error", [None])[0]


async def _connect(
    browser: httpx.AsyncClient, harvest_id: httpx.AsyncClient, name: str, *, replace: bool = False
) -> str | None:
    """Submit the form and follow Harvest ID back: the form's error, or None when saved."""
    started = await _submit(browser, name, replace=replace)
    assert started.status_code == 303
    if not started.headers["location"].startswith(SANDBOX):
        return _error(started)
    approved = await harvest_id.get(started.headers["location"])
    back = approved.headers["location"]
    assert back.startswith(SERVE), back
    landed = await browser.get(back.removeprefix(SERVE))
    error = _error(landed)
    if error is None:
        done = urllib.parse.urlsplit(landed.headers["location"]).query
        assert urllib.parse.parse_qs(done)["done"] == [name]
    return error


def _token_of(store: Store, name: str) -> str | None:
    blob = store.get_connection(name).credentials_ref
    return None if blob is None else SecretBox.from_env().open(blob).access_token


async def test_env_is_refused_and_the_environment_connection_is_left_alone(
    store: Store, sandbox: Sandbox, browser: httpx.AsyncClient, harvest_id: httpx.AsyncClient
) -> None:
    recorded = store.add_connection(ENV_CONNECTION, sandbox.credentials.account_id,
                                    label="from HARVEST_* environment variables")
    for replace in (False, True):
        error = await _connect(browser, harvest_id, ENV_CONNECTION, replace=replace)
        assert "HARVEST_*" in (error or "")
    assert store.get_connection(ENV_CONNECTION) == recorded
    assert _token_of(store, ENV_CONNECTION) is None  # still the variables' token, none saved
    # Nobody was sent to Harvest ID for it.
    assert not [r for r in sandbox.state.request_log if r.path == "/oauth2/authorize"]


async def test_an_existing_name_needs_replace_and_then_the_same_account(
    store: Store, sandbox: Sandbox, browser: httpx.AsyncClient, harvest_id: httpx.AsyncClient
) -> None:
    assert await _connect(browser, harvest_id, "customer") is None
    first = _token_of(store, "customer")
    assert first is not None

    error = await _connect(browser, harvest_id, "customer")
    assert "Replace its credentials" in (error or "")
    assert _token_of(store, "customer") == first

    assert await _connect(browser, harvest_id, "customer", replace=True) is None
    assert _token_of(store, "customer") not in (None, first)  # signed in again: a new token

    store.add_connection("other", sandbox.credentials.account_id + 1, label="Another account")
    error = await _connect(browser, harvest_id, "other", replace=True)
    assert "another account" in (error or "")
    assert store.get_connection("other").credentials_ref is None


def test_saving_a_login_refuses_env_and_another_accounts_name(store: Store, sandbox: Sandbox) -> None:
    settings = settings_for(sandbox)
    login = Credentials("pat", sandbox.credentials.admin_token, settings.user_agent)
    with pytest.raises(ConnectionMismatchError, match="HARVEST_"):
        save_connection(store, ENV_CONNECTION, settings, login)
    assert store.get_connection_or_none(ENV_CONNECTION) is None

    store.add_connection("acme", 424242, label="Acme")
    with pytest.raises(ConnectionMismatchError, match="account 424242"):
        save_connection(store, "acme", settings, login)
    assert store.get_connection("acme").account_id == 424242
    assert store.get_connection("acme").credentials_ref is None
    # The same account under its own name is saved, and saved again (a new login) as before.
    save_connection(store, "mine", settings, login)
    save_connection(store, "mine", settings, login)
    assert _token_of(store, "mine") == sandbox.credentials.admin_token
