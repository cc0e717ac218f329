"""``thresher scim serve`` behind a proxy, and tokens revoked from another process.

The bridge runs as the real command in a subprocess; a tiny TCP pass-through proxy on 127.0.0.1
stands for a same-host TLS terminator, so every connection the bridge sees comes from 127.0.0.1.
An ``X-Forwarded-For`` header is then only believed with ``--forwarded-allow-ips`` (uvicorn's
own default would trust 127.0.0.1 and let any client name an allowed address).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from thresher.cli import main
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.scim import TokenStore
from thresher.store import Store

OFFICE = "10.9.0.0/16"


@contextlib.contextmanager
def tcp_proxy(target_port: int) -> Iterator[int]:
    """Bytes both ways between a client and 127.0.0.1:``target_port``, nothing added."""
    ready: queue.Queue[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]] = queue.Queue()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def serve() -> None:
        stop = asyncio.Event()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.put((asyncio.get_running_loop(), stop, server.sockets[0].getsockname()[1]))
        async with server:
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="tcp-proxy", daemon=True)
    thread.start()
    loop, stop, port = ready.get(timeout=10)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(running: RunningSandbox, database_url: str) -> dict[str, str]:
    creds = running.sandbox.credentials
    return {
        **os.environ,
        "HARVEST_ACCESS_TOKEN": creds.admin_token,
        "HARVEST_ACCOUNT_ID": str(creds.account_id),
        "HARVEST_USER_AGENT": "thresher-tests (tests@example.com)",
        "HARVEST_BASE_URL": running.api_url,
        "HARVEST_ID_URL": running.id_url,
        "THRESHER_DATABASE_URL": database_url,
    }


@contextlib.contextmanager
def scim_serve(env: dict[str, str], *options: str) -> Iterator[int]:
    """``thresher scim serve`` in a subprocess, until it answers; yields its port."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "thresher", "scim", "serve", "--port", str(port), "--no-access-log", *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/scim/v2/ServiceProviderConfig", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "thresher scim serve did not answer"
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=15)


@pytest.fixture
def sandbox_running() -> Iterator[RunningSandbox]:
    with run_sandbox(Sandbox(SandboxConfig(users=3, seed=7, rate_limit=None))) as running:
        yield running


def _get(port: int, token: str, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return httpx.get(
        f"http://127.0.0.1:{port}/scim/v2/Users", params={"count": 1}, headers=headers, timeout=20
    )


def test_forwarded_for_is_ignored_by_default_and_revoke_takes_effect_at_once(
    store: Store, database_url: str, sandbox_running: RunningSandbox
) -> None:
    tokens = TokenStore(store)
    _, idp = tokens.create("idp")
    _, office = tokens.create("office", allowed_cidrs=[OFFICE])
    env = _env(sandbox_running, database_url)
    with scim_serve(env) as port, tcp_proxy(port) as proxy:
        # The bypass of the issue: through a same-host proxy, naming an allowed address.
        assert _get(proxy, office, forwarded_for="10.9.8.7").status_code == 403
        assert _get(port, office, forwarded_for="10.9.8.7").status_code == 403
        assert _get(proxy, idp).status_code == 200

        revoke = subprocess.run(
            [sys.executable, "-m", "thresher", "scim", "token", "revoke", "idp"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert revoke.returncode == 0, revoke.stderr
        # The very next request, in the bridge's process, is refused.
        r = _get(proxy, idp)
        assert r.status_code == 401, r.text


def test_trusted_proxies_name_the_client(
    store: Store, database_url: str, sandbox_running: RunningSandbox
) -> None:
    _, office = TokenStore(store).create("office", allowed_cidrs=[OFFICE])
    env = _env(sandbox_running, database_url)
    with scim_serve(env, "--forwarded-allow-ips", "127.0.0.1") as port, tcp_proxy(port) as proxy:
        assert _get(proxy, office, forwarded_for="10.9.8.7").status_code == 200
        # The forwarded address is the one checked: outside the network, refused.
        assert _get(proxy, office, forwarded_for="192.0.2.10").status_code == 403
        assert _get(proxy, office).status_code == 403  # no header: the proxy itself is the client


def test_a_bad_proxy_address_is_a_usage_error(tmp_path: os.PathLike[str]) -> None:
    runner = CliRunner()
    with runner.isolation(env={"THRESHER_DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}) as (_, err, _):
        try:
            main(["scim", "serve", "--port", "0", "--forwarded-allow-ips", "127.0.0.1,proxy.local"])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        assert code == 2
        assert "'proxy.local' is not an IP address or network" in err.getvalue().decode()
