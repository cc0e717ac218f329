"""A SCIM bridge on a sandbox, in-process: the IdP side is an httpx client over ASGITransport.

``bridge``: Harvest's. ``site``: the bridge of a Harvest or a Greenhouse connection
(``provider_name``, tests/providers.py), for the conformance tests that run for both."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harvest_clients import FAST_RETRY, connection_for, engine, settings_for
from providers import Provider, make_provider, provider, provider_name
from thresher.greenhouse import AsyncGreenhouse
from thresher.harvest import AsyncHarvest, LimiterRegistry
from thresher.provision import WriteThrough
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.scim import BridgeBase, DeleteMode, GreenhouseScimBridge, ScimBridge, TokenStore
from thresher.store import Store, StoredConnection

__all__ = ["provider", "provider_name"]  # fixtures (tests/providers.py), for pytest

SCIM = "application/scim+json"
BASE = "http://bridge.test/scim/v2"


class CountingTransport(httpx.AsyncBaseTransport):
    """The sandbox's ASGI transport, counting the requests thresher makes to Harvest."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)


@dataclasses.dataclass
class Harness:
    sandbox: Sandbox
    store: Store
    connection: StoredConnection
    harvest: AsyncHarvest
    transport: CountingTransport
    bridge: ScimBridge
    token: str
    http: httpx.AsyncClient

    def harvest_requests(self) -> int:
        return len(self.transport.requests)


async def make_harness(
    store: Store,
    config: SandboxConfig,
    *,
    delete_mode: DeleteMode = DeleteMode.archive,
    read_only: bool = False,
) -> AsyncIterator[Harness]:
    sandbox = Sandbox(config)
    transport = CountingTransport(sandbox.app)
    harvest = AsyncHarvest(
        settings_for(sandbox), transport=transport, limiter_registry=LimiterRegistry(), retry=FAST_RETRY
    )
    async with harvest:
        connection = connection_for(store, sandbox)
        await engine(store, harvest, connection).run(full=True)
        tokens = TokenStore(store)
        _, secret = tokens.create("idp", read_only=read_only)
        bridge = ScimBridge(WriteThrough(harvest, store, connection), tokens, delete_mode=delete_mode)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bridge.app, client=("10.1.2.3", 4321)),
            base_url=BASE,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        ) as http:
            transport.requests.clear()
            yield Harness(sandbox, store, connection, harvest, transport, bridge, secret, http)


@pytest.fixture
def scim_sandbox_config() -> SandboxConfig:
    return SandboxConfig(users=8, seed=3, rate_limit=None)


@pytest.fixture
async def bridge(store: Store, scim_sandbox_config: SandboxConfig) -> AsyncIterator[Harness]:
    async for harness in make_harness(store, scim_sandbox_config):
        yield harness


@dataclasses.dataclass
class Site:
    """The bridge of one provider's connection, in-process, with the requests it sends counted."""

    provider: Provider
    bridge: BridgeBase
    transport: CountingTransport
    token: str
    http: httpx.AsyncClient

    def provider_requests(self) -> int:
        return len(self.transport.requests)


@pytest.fixture
async def site(store: Store, provider_name: str) -> AsyncIterator[Site]:
    provider = make_provider(provider_name, store, users=8, seed=3)
    transport = CountingTransport(provider.sandbox.app)
    async with provider.client(transport) as client:
        await provider.engine(client).run(full=True)
        tokens = TokenStore(store)
        _, secret = tokens.create("idp")
        bridge: BridgeBase
        if isinstance(client, AsyncGreenhouse):
            bridge = GreenhouseScimBridge(client, store, provider.connection, tokens)
        else:
            bridge = ScimBridge(WriteThrough(client, store, provider.connection), tokens)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bridge.app, client=("10.1.2.3", 4321)),
            base_url=BASE,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        ) as http:
            transport.requests.clear()
            yield Site(provider, bridge, transport, secret, http)


def is_scim_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert a SCIM Error document with ``status`` (RFC 7644 §3.12) and return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(SCIM)
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body.get("detail")
    return body  # type: ignore[no-any-return]
