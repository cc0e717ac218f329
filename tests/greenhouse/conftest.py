"""Fixtures for the Greenhouse client against the Greenhouse sandbox, in-process
(``httpx.ASGITransport``) and over real HTTP (``run_greenhouse_sandbox``).

``gh`` is parametrized over both transports: a test taking it runs twice. ``make_client`` builds
more clients on the same sandbox (another credential, another ``sub``, a fixed token).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from thresher.greenhouse import AsyncGreenhouse, RequestRecord
from thresher.greenhouse_sandbox import (
    GreenhouseSandbox,
    GreenhouseSandboxConfig,
    RunningGreenhouseSandbox,
    run_greenhouse_sandbox,
)

ASGI_ORIGIN = "http://greenhouse.test"


@dataclasses.dataclass
class Target:
    """A sandbox and where a client reaches it."""

    sandbox: GreenhouseSandbox
    origin: str
    transport: Callable[[], httpx.AsyncBaseTransport | None]

    def client(
        self,
        credential: str = "full",
        *,
        sub: int | str | None = "admin",
        records: list[RequestRecord] | None = None,
        **kwargs: Any,
    ) -> AsyncGreenhouse:
        s = self.sandbox
        cred = s.credential(credential)
        who = (
            {"admin": s.state.admin_id, "basic": s.state.basic_id}.get(sub, sub)
            if isinstance(sub, str)
            else sub
        )
        kwargs.setdefault("client_id", cred.client_id)
        kwargs.setdefault("client_secret", cred.client_secret)
        return AsyncGreenhouse(
            sub=who,
            base_url=f"{self.origin}/v3",
            token_url=f"{self.origin}/token",
            transport=self.transport(),
            on_request=records.append if records is not None else None,
            backoff=0.01,
            **kwargs,
        )

    def log(self) -> list[dict[str, Any]]:
        return list(self.sandbox.requests)


@pytest.fixture
def gh_config() -> GreenhouseSandboxConfig:
    """Override in a module to change the seeded organisation or its knobs."""
    return GreenhouseSandboxConfig(users=40, seed=5, rate_limit=None)


@pytest.fixture(scope="session")
def _live_server() -> Iterator[RunningGreenhouseSandbox]:
    with run_greenhouse_sandbox(GreenhouseSandbox(GreenhouseSandboxConfig(users=40, seed=5))) as running:
        yield running


@pytest.fixture
def live_target(
    _live_server: RunningGreenhouseSandbox, gh_config: GreenhouseSandboxConfig
) -> Iterator[Target]:
    """The session's server over real HTTP, reset to ``gh_config``."""
    live = _live_server.sandbox
    live.set_faults(None)
    live.reset(users=gh_config.users, seed=gh_config.seed)
    live.apply_settings(
        {
            "rate_limit": gh_config.rate_limit,
            "expiry_field": gh_config.expiry_field,
            "non_admin_lists": gh_config.non_admin_lists,
            "token_ttl_seconds": gh_config.token_ttl_seconds,
        }
    )
    try:
        yield Target(live, _live_server.base_url, lambda: None)
    finally:
        live.set_faults(None)


@pytest.fixture(params=["asgi", "http"])
def target(request: pytest.FixtureRequest) -> Target:
    """The sandbox in-process (``asgi_target``) or over real HTTP (``live_target``)."""
    found = request.getfixturevalue(f"{'asgi' if request.param == 'asgi' else 'live'}_target")
    assert isinstance(found, Target)
    return found


@pytest.fixture
def asgi_target(gh_config: GreenhouseSandboxConfig) -> Target:
    """In-process only (tests that need no socket)."""
    sandbox = GreenhouseSandbox(gh_config)
    return Target(sandbox, ASGI_ORIGIN, lambda: httpx.ASGITransport(app=sandbox.app))


@pytest.fixture
async def gh(target: Target) -> AsyncIterator[AsyncGreenhouse]:
    async with target.client() as client:
        yield client
