"""Injected faults: the spec syntax, seeded determinism, each kind of fault
in-process and over real HTTP, and run-time changes through the control plane."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import LiveSandbox, harvest_headers
from thresher.sandbox import FaultConfig, Sandbox, SandboxConfig, SandboxConfigError
from thresher.sandbox._errors import DroppedConnectionError

SPEC = "500:0.05,502:0.02,503:0.02,drop:0.01,lost:0.02,delay:0.1@200ms,429burst:0.01x5,seed=7"


def test_spec_round_trip() -> None:
    parsed = FaultConfig.parse(SPEC)
    assert parsed.statuses == ((500, 0.05), (502, 0.02), (503, 0.02))
    assert (parsed.drop, parsed.lost, parsed.burst_429, parsed.burst_length, parsed.seed) == (
        0.01, 0.02, 0.01, 5, 7
    )
    assert (parsed.delay, parsed.delay_seconds) == (0.1, 0.2)
    assert FaultConfig.parse(str(parsed)) == parsed
    assert not FaultConfig.parse("").active
    assert not FaultConfig.parse("off").active
    assert FaultConfig.parse("delay:0.5@1.5s").delay_seconds == 1.5


@pytest.mark.parametrize(
    "spec",
    [
        "404:0.1",
        "500:0.7,503:0.7",
        "drop:2",
        "drop:0.6,lost:0.6",
        "delay:0.1",
        "teapot:0.1",
        "500",
        "429burst:0.1xz",
        "delay:0.1@fast",
        "seed=x",
    ],
)
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(SandboxConfigError):
        FaultConfig.parse(spec)


def test_bad_spec_in_config_fails_at_construction() -> None:
    with pytest.raises(SandboxConfigError):
        SandboxConfig(faults="500:2")


def _admin_client(sandbox: Sandbox) -> httpx.AsyncClient:
    creds = sandbox.credentials
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app),
        base_url="http://t",
        headers=harvest_headers(creds.admin_token, creds.account_id),
    )


async def _outcomes(sandbox: Sandbox, count: int) -> list[str]:
    outcomes = []
    async with _admin_client(sandbox) as client:
        for _ in range(count):
            try:
                response = await client.get("/v2/users/me")
            except DroppedConnectionError:
                outcomes.append("drop")
            else:
                outcomes.append(str(response.status_code))
    return outcomes


def _config(spec: str) -> SandboxConfig:
    return SandboxConfig(users=5, rate_limit=None, faults=spec)


async def test_lost_processes_the_request_and_drops_its_answer() -> None:
    # The create happened (and its invitation went out), but the client only saw a dropped
    # connection: the case in which re-sending a create duplicates the person.
    sandbox = Sandbox(_config("lost:1"))
    async with _admin_client(sandbox) as client:
        body = {"first_name": "Lise", "last_name": "Meitner", "email": "lise@example.com"}
        with pytest.raises(DroppedConnectionError):
            await client.post("/v2/users", json=body)
    assert [u.email for u in sandbox.state.users.values()].count("lise@example.com") == 1
    assert [i.to for i in sandbox.state.outbox] == ["lise@example.com"]
    assert [(r.method, r.status, r.fault) for r in sandbox.state.request_log] == [("POST", 0, "lost")]


async def test_same_spec_same_sequence_other_seed_other_sequence() -> None:
    spec = "500:0.2,502:0.1,503:0.1,drop:0.1,429burst:0.05x3,seed=3"
    first = await _outcomes(Sandbox(_config(spec)), 150)
    assert first == await _outcomes(Sandbox(_config(spec)), 150)
    assert set(first) == {"200", "500", "502", "503", "drop", "429"}
    other = await _outcomes(Sandbox(_config(spec.replace("seed=3", "seed=4"))), 150)
    assert other != first


async def test_set_faults_restarts_the_sequence() -> None:
    sandbox = Sandbox(_config("500:0.5,seed=1"))
    first = await _outcomes(sandbox, 40)
    sandbox.set_faults("500:0.5,seed=1")
    assert await _outcomes(sandbox, 40) == first
    sandbox.set_faults(None)
    assert set(await _outcomes(sandbox, 20)) == {"200"}


async def test_fault_seed_defaults_to_the_sandbox_seed() -> None:
    a = await _outcomes(Sandbox(SandboxConfig(users=5, seed=9, rate_limit=None, faults="500:0.5")), 40)
    b = await _outcomes(Sandbox(SandboxConfig(users=5, seed=9, rate_limit=None, faults="500:0.5,seed=9")), 40)
    assert a == b


async def test_429_bursts_come_in_runs_with_retry_after() -> None:
    sandbox = Sandbox(_config("429burst:0.1x4,seed=2"))
    creds = sandbox.credentials
    statuses = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app),
        base_url="http://t",
        headers=harvest_headers(creds.admin_token, creds.account_id),
    ) as client:
        for _ in range(200):
            response = await client.get("/v2/users/me")
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.headers["Retry-After"] == "1"
    runs = "".join("x" if s == 429 else "." for s in statuses).split(".")
    lengths = [len(r) for r in runs if r]
    assert lengths
    assert all(n % 4 == 0 for n in lengths[:-1])  # the last run may be cut by the end of the loop


async def test_delay_and_latency() -> None:
    sandbox = Sandbox(SandboxConfig(users=5, rate_limit=None, faults="delay:1@60ms", latency_ms=20))
    started = time.perf_counter()
    assert await _outcomes(sandbox, 3) == ["200"] * 3
    assert time.perf_counter() - started >= 3 * 0.08
    log = sandbox.state.request_log
    assert [r.fault for r in log] == ["delay"] * 3


async def test_status_fault_bodies() -> None:
    sandbox = Sandbox(_config("500:1"))
    async with _admin_client(sandbox) as client:
        response = await client.get("/v2/users/me")
        assert response.json() == {"status": 500, "error": "Internal Server Error"}
        sandbox.set_faults("503:1")
        response = await client.get("/v2/users/me")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")


def test_faults_over_real_http_and_at_run_time(fresh_live_sandbox: LiveSandbox) -> None:
    live = fresh_live_sandbox
    client = live.client
    assert live.control("PUT", "/faults", json={"spec": "drop:1"}).json() == {
        "spec": "drop:1",
        "active": True,
    }
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/v2/users/me", headers=live.headers())
    live.control("PUT", "/faults", json={"spec": "502:1"})
    bad_gateway = client.get("/v2/users/me", headers=live.headers())
    assert (bad_gateway.status_code, "cloudflare" in bad_gateway.text) == (502, True)
    assert live.control("GET", "/faults").json()["spec"] == "502:1"  # the control plane is never faulted
    log = live.control("GET", "/requests").json()["requests"]
    assert [(r["status"], r["fault"]) for r in log[-2:]] == [(0, "drop"), (502, "502")]
    live.control("PUT", "/faults", json={"spec": None})
    assert client.get("/v2/users/me", headers=live.headers()).status_code == 200
    refused = client.put("/sandbox/faults", headers=live.control_headers, json={"spec": "500:9"})
    assert refused.status_code == 400
