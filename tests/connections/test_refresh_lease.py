"""Two holders of one OAuth connection whose token expired at once: exactly one refreshes.

Each client has a ``Store`` of its own (as two processes would) and the sandbox's refresh tokens
are single use (docs/harvest-api.md §5.2), so a second refresh with the same refresh token would
fail. The interleaving is forced, not hoped for: the first client's token request is held back
until the second client says (in its log) that it waits for the credentials lease.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Iterator

import anyio
import httpx
import pytest

from thresher.connections import Credentials, ResolvedConnection, SecretBox, oauth_login, open_client, resolve
from thresher.harvest import LimiterRegistry, OAuthApp, User
from thresher.store import Store

from .conftest import CLI_UA, PAST_EXPIRY, SECRET, TOKEN_PATH, Site

#: Bounds every wait for the other client; it is reached in well under a second.
WAIT = 60.0


class WaitingForLease(logging.Handler):
    """Sets ``seen`` when a client logs that it waits for the credentials lease."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("waiting for the credentials lease"):
            self.seen.set()


@pytest.fixture
def waiting(monkeypatch: pytest.MonkeyPatch, site: Site) -> Iterator[WaitingForLease]:
    for name in ("HARVEST_ACCESS_TOKEN", "HARVEST_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET)
    monkeypatch.setenv("XDG_CONFIG_HOME", site.env["XDG_CONFIG_HOME"])
    handler = WaitingForLease()
    logger = logging.getLogger("thresher.connections")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class HoldTokenRequest(httpx.AsyncBaseTransport):
    """Real HTTP; a token request first starts ``other`` and waits until it waits for the lease."""

    def __init__(self, other: threading.Thread, waiting: WaitingForLease) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.other = other
        self.waiting = waiting

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            self.other.start()
            assert await anyio.to_thread.run_sync(self.waiting.seen.wait, WAIT), "no second client"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _save_oauth_connection(site: Site, *, expired_locally: bool) -> Credentials:
    sandbox = site.sandbox.credentials
    app = OAuthApp(sandbox.oauth_client_id, sandbox.oauth_client_secret, site.running.id_url, CLI_UA)

    def browser(url: str) -> None:
        assert httpx.get(url, follow_redirects=True).status_code == 200

    token = asyncio.run(oauth_login(app, "http://127.0.0.1:0/callback", browser))
    creds = Credentials(
        "oauth", token.access_token, CLI_UA, refresh_token=token.refresh_token,
        expires_at=token.expires_at, client_id=sandbox.oauth_client_id,
        client_secret=sandbox.oauth_client_secret, scope=token.scope,
    )
    if expired_locally:  # the clients see it expired before sending anything
        creds = dataclasses.replace(creds, expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with site.store() as store:
        store.add_connection(
            "oauth", sandbox.account_id, base_url=site.running.api_url, id_url=site.running.id_url,
            credentials_ref=SecretBox.from_env().seal(creds), is_default=True,
        )
    return creds


async def _me_twice(
    store: Store, resolved: ResolvedConnection, transport: httpx.AsyncBaseTransport | None = None
) -> list[User]:
    async with open_client(
        store, resolved, transport=transport, limiter_registry=LimiterRegistry()
    ) as harvest:
        return [await harvest.me(), await harvest.me()]


@pytest.mark.parametrize("noticed_by", ["401", "expiry"])
def test_two_clients_with_an_expired_token_refresh_it_once(
    site: Site, waiting: WaitingForLease, noticed_by: str
) -> None:
    loaded = _save_oauth_connection(site, expired_locally=noticed_by == "expiry")
    if noticed_by == "401":
        site.move_clock(PAST_EXPIRY)  # Harvest refuses the token; the clients think it valid
    with site.store() as first_store, site.store() as second_store:
        first = resolve(first_store, "oauth")
        second = resolve(second_store, "oauth")  # both loaded the same token and refresh token
        seconds: list[User] = []
        failures: list[BaseException] = []

        def run_second() -> None:
            try:
                seconds.extend(asyncio.run(_me_twice(second_store, second)))
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        other = threading.Thread(target=run_second, name="second-client")
        site.clear_requests()
        firsts = asyncio.run(_me_twice(first_store, first, HoldTokenRequest(other, waiting)))
        other.join(WAIT)
        assert not other.is_alive()

    assert not failures, failures
    assert {u.id for u in firsts + seconds} == {firsts[0].id}
    assert len(seconds) == 2
    refreshes = site.token_requests()
    assert [r["status"] for r in refreshes] == [200]  # exactly one spent the refresh token
    saved = site.credentials("oauth")
    assert saved.refresh_token not in (None, loaded.refresh_token)
    assert [r["status"] for r in site.requests() if r["path"] == "/v2/users/me"].count(200) == 4
