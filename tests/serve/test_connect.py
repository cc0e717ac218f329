"""The "connect a Harvest account" page end to end, and the token refresh ahead of expiry.

A ``thresher serve`` subprocess with an OAuth app of the sandbox's identity service; the
browser is played by an HTTP client that signs in, submits the page's form and follows the
sandbox's redirects (it approves at once, docs/harvest-api.md §5.2) back to the service. The new
connection is then synced on schedule, and its short-lived access token (the sandbox's
``token_ttl_seconds``) is refreshed in the background before it expires: counted at the
sandbox's token endpoint, with single-use refresh tokens so a stale one would be refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from thresher.connections import Credentials, SecretBox
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.store import ServeRecords, Store

from .conftest import ServeProcess, ServeSetup, prepare, start_serve, wait_for

SECRET = "serve-tests-secret-key-for-sealed-credentials"
TOKEN_PATH = "/api/v2/oauth2/token"
# Seconds an access token lives (the sandbox clock is real time here): longer than the client's
# own refresh margin (300 s, thresher.harvest's OAuth auth), so only the background task refreshes.
TTL = 400
AHEAD = 390  # refreshed when it has this long left: about 10 s after it was issued
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def oauth_sandbox() -> Iterator[RunningSandbox]:
    config = SandboxConfig(users=8, seed=5, rate_limit=None, oauth_redirect_uri="http://127.0.0.1",
                           token_ttl_seconds=TTL, rotate_refresh_tokens=True)
    with run_sandbox(Sandbox(config)) as running:
        yield running


def _csrf(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def sign_in(browser: httpx.Client, username: str, password: str) -> None:
    form = browser.get("/login")
    signed = browser.post("/login", data={"csrf": _csrf(form), "next": "/", "username": username,
                                          "password": password})
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/"


def _credentials(database_url: str, name: str) -> Credentials:
    with Store.open(database_url) as store:
        blob = store.get_connection(name).credentials_ref
    assert blob is not None
    return SecretBox.from_env({"THRESHER_SECRET_KEY": SECRET}).open(blob)


def _token_calls(setup: ServeSetup) -> list[int]:
    return [r.status for r in setup.sandbox.state.request_log if r.method == "POST" and r.path == TOKEN_PATH]


def _start(setup: ServeSetup, tmp_path: Path) -> ServeProcess:
    creds = setup.sandbox.credentials
    config = tmp_path / "thresher.toml"
    config.write_text(
        f"[sync]\ninterval = 1\nrefresh_ahead = {AHEAD}\nrefresh_check = 0.5\n\n"
        f'[oauth]\nclient_id = "{creds.oauth_client_id}"\nclient_secret = "{creds.oauth_client_secret}"\n'
        f'id_url = "{setup.running.id_url}"\napi_url = "{setup.running.api_url}"\n'
        'user_agent = "thresher-serve-tests (tests@example.com)"\n'
    )
    config.chmod(0o600)
    return start_serve({**setup.env, "THRESHER_SECRET_KEY": SECRET}, "--config", str(config))


def test_connect_page_runs_the_oauth_flow_and_the_token_is_refreshed_before_expiry(
    oauth_sandbox: RunningSandbox, sqlite_url: str, tmp_path: Path
) -> None:
    setup = prepare(oauth_sandbox, sqlite_url)
    serve = _start(setup, tmp_path)
    try:
        with httpx.Client(base_url=serve.url, timeout=30) as browser:
            sign_in(browser, "ada", "correct horse battery")
            page = browser.get("/connect")
            assert page.status_code == 200
            started = browser.post("/connect", data={"csrf": _csrf(page), "name": "customer"})
            assert started.status_code == 303
            authorize = started.headers["location"]
            assert authorize.startswith(setup.running.id_url)
            # The sandbox approves and sends the browser back to /connect/callback, which saves
            # the connection and lands on the page again.
            landed = browser.get(authorize, follow_redirects=True)
            assert landed.status_code == 200, landed.text
            assert landed.url.path == "/connect"
            assert landed.url.params["done"] == "customer"
            assert creds_secret_free(landed.text, setup)

            # A callback whose state was not issued here is refused.
            forged = browser.get("/connect/callback", params={"code": "x", "state": "forged"})
            assert forged.status_code == 303
            assert "error=" in forged.headers["location"]

        first = _credentials(setup.database_url, "customer")
        assert first.kind == "oauth"
        assert first.user_id in setup.sandbox.state.users  # the approving user, never archived
        assert first.expires_at is not None
        assert _token_calls(setup) == [200]  # the code exchange

        def synced() -> bool:
            with Store.open(setup.database_url) as store:
                customer = store.get_connection("customer").id
                return any(r.connection_id == customer and r.outcome == "ok"
                           for r in ServeRecords(store).recent_runs(limit=100))

        wait_for(synced, timeout=60, what="the new connection's first scheduled sync")
        wait_for(lambda: len(_token_calls(setup)) >= 2, timeout=90, what="a background refresh")
    finally:
        code = serve.terminate()
    assert code == 0, serve.output
    assert "Traceback" not in serve.output
    calls = _token_calls(setup)
    assert calls == [200] * len(calls)  # every refresh used the latest (single-use) refresh token
    latest = _credentials(setup.database_url, "customer")
    assert latest.access_token != first.access_token
    assert latest.refresh_token not in (None, first.refresh_token)
    assert latest.expires_at is not None
    assert latest.expires_at > first.expires_at
    # Refreshed ahead: the first token was never used past its expiry, nothing was refused.
    api = [r for r in setup.sandbox.state.request_log if r.path.startswith("/v2/")]
    assert api
    assert all(r.status != 401 for r in api), [(r.path, r.status) for r in api if r.status == 401]
    assert "refreshed the OAuth token of customer" in serve.output
    for secret in (first.access_token, latest.access_token, setup.sandbox.credentials.oauth_client_secret):
        assert secret not in serve.output


def creds_secret_free(html: str, setup: ServeSetup) -> bool:
    """The page shows no secret of the OAuth app."""
    return setup.sandbox.credentials.oauth_client_secret not in html
