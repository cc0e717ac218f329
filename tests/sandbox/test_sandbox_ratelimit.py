"""§4 rate limit: exact sliding and fixed windows, per account or per token, time scale, and 429
with ``Retry-After`` always."""

from __future__ import annotations

import time

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import harvest_headers
from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox
from thresher.sandbox._ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_is_half_open() -> None:
    limiter = RateLimiter(3, 10.0, clock=FakeClock())
    assert [limiter.hit("a", t) for t in (0.0, 0.0, 5.0)] == [None, None, None]
    wait = limiter.hit("a", 9.999)
    assert wait is not None
    assert abs(wait - 0.001) < 1e-9
    assert RateLimiter.retry_after(wait) == "1"
    assert limiter.hit("a", 10.0) is None  # the request of t=0 left the window exactly now
    assert limiter.hit("a", 10.0) is None
    assert limiter.hit("a", 10.0) is not None  # refused requests did not count, 5.0 still does
    assert limiter.hit("b", 10.0) is None  # keys are independent


def test_fixed_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 10.0, mode="fixed", clock=clock)
    base = clock.now
    assert limiter.hit("a", base + 1) is None
    assert limiter.hit("a", base + 9) is None
    assert limiter.hit("a", base + 9.5) == 0.5
    assert limiter.hit("a", base + 10) is None  # a new window
    assert RateLimiter.retry_after(7.2) == "8"


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(1, 20), gaps=st.lists(st.floats(0, 3, allow_nan=False), min_size=1, max_size=200))
def test_a_client_pacing_exactly_at_the_limit_is_never_refused(limit: int, gaps: list[float]) -> None:
    """A client that sends request i no earlier than ``window`` after request i - limit (the
    exact sliding rule) is always served, however it bunches its requests."""
    window = 2.0
    limiter = RateLimiter(limit, window, clock=FakeClock())
    sent: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        if len(sent) >= limit:
            now = max(now, sent[-limit] + window)
        assert limiter.hit("account", now) is None
        sent.append(now)


async def test_sandbox_limits_per_account_and_answers_retry_after() -> None:
    clock = FakeClock()
    sandbox = Sandbox(SandboxConfig(users=5, rate_limit="3/10s"), monotonic=clock)
    creds = sandbox.credentials
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app), base_url="http://t"
    ) as client:
        admin = harvest_headers(creds.admin_token, creds.account_id)
        member = harvest_headers(creds.member_token, creds.account_id)
        assert [(await client.get("/v2/users/me", headers=admin)).status_code for _ in range(2)] == [200, 200]
        assert (await client.get("/v2/users/me", headers=member)).status_code == 200
        refused = await client.get("/v2/users/me", headers=member)  # one account, one budget (§10)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "10"
        assert refused.content == b""
        assert (
            await client.get("/v2/users/me", headers={**admin, "Authorization": "Bearer x"})
        ).status_code == 401
        clock.now += 10
        assert (await client.get("/v2/users/me", headers=member)).status_code == 200


async def test_sandbox_limits_per_token_when_configured() -> None:
    clock = FakeClock()
    sandbox = Sandbox(SandboxConfig(users=5, rate_limit="2/10s", rate_limit_scope="token"), monotonic=clock)
    creds = sandbox.credentials
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app), base_url="http://t"
    ) as client:
        for token in (creds.admin_token, creds.member_token):
            headers = harvest_headers(token, creds.account_id)
            statuses = [(await client.get("/v2/users/me", headers=headers)).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]


async def test_fixed_window_in_the_sandbox() -> None:
    clock = FakeClock()
    sandbox = Sandbox(SandboxConfig(users=5, rate_limit="2/10s", rate_limit_window="fixed"), monotonic=clock)
    creds = sandbox.credentials
    headers = harvest_headers(creds.admin_token, creds.account_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app), base_url="http://t", headers=headers
    ) as client:
        clock.now += 8
        assert [(await client.get("/v2/users/me")).status_code for _ in range(3)] == [200, 200, 429]
        clock.now += 2  # the next fixed window starts 10 s after the limiter's creation
        assert (await client.get("/v2/users/me")).status_code == 200


def test_time_scaled_window_over_real_http() -> None:
    """5 per 15 s scaled by 1/10 is 5 per 1.5 s: the test takes about two seconds."""
    sandbox = Sandbox(SandboxConfig(users=5, rate_limit="5/15s", time_scale=1 / 10))
    creds = sandbox.credentials
    with (
        run_sandbox(sandbox) as running,
        httpx.Client(
            base_url=running.base_url, headers=harvest_headers(creds.admin_token, creds.account_id)
        ) as client,
    ):
        started = time.monotonic()
        statuses = [client.get("/v2/users/me").status_code for _ in range(6)]
        assert time.monotonic() - started < 1.5  # six loopback requests fit in one window
        assert statuses == [200] * 5 + [429]
        time.sleep(1.5)
        assert client.get("/v2/users/me").status_code == 200
        # Changed at run time through the control plane; reset() goes back to the config.
        settings_url = f"{running.base_url}/sandbox/settings"
        control = {"Authorization": f"Bearer {creds.control_token}"}
        client.put(settings_url, json={"rate_limit": "1/1min", "time_scale": 1.0}, headers=control)
        assert [client.get("/v2/users/me").status_code for _ in range(2)] == [200, 429]
        assert client.get("/v2/users/me").headers["Retry-After"] in {"59", "60"}
        client.post(f"{running.base_url}/sandbox/reset", headers=control)
        assert sandbox.config.rate_limit == "5/15s"
