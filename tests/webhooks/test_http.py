"""The dispatcher's HTTP/1.1 client (webhooks/_http.py) against raw asyncio servers on 127.0.0.1:
connections kept alive and reused, a connection the receiver closed while idle replaced, long
answers cut at the limit, silent receivers timed out, refused connections reported."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from thresher.webhooks._http import DeliveryClient, HttpError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 204 No Content\r\n\r\n"


class Server:
    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self.release = asyncio.Event()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


@contextlib.asynccontextmanager
async def serving(
    answer: Callable[[Server, bytes], bytes | None], *, close_after: int = 0
) -> AsyncIterator[Server]:
    """Answers each request with ``answer(server, request)`` (None: stay silent); with
    ``close_after``, closes a connection after that many answers without saying so."""
    state = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        answered = 0
        try:
            while (request := await _read_request(reader)) is not None:
                state.requests.append(request)
                reply = answer(state, request)
                if reply is None:
                    await state.release.wait()
                    return
                writer.write(reply)
                await writer.drain()
                answered += 1
                if close_after and answered >= close_after:
                    return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        state.release.set()
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


async def _post(client: DeliveryClient, port: int, *, body: bytes = b"{}", deadline: float = 10.0) -> int:
    response = await client.post(
        key=("http", "127.0.0.1", port, None),
        target="/hook?x=1",
        headers=[("host", f"127.0.0.1:{port}"), ("content-type", "application/json")],
        body=body,
        limit=64,
        deadline=deadline,
    )
    return response.status


async def test_connections_are_kept_alive_and_reused() -> None:
    async with serving(lambda _s, _r: OK) as server:
        client = DeliveryClient()
        try:
            assert [await _post(client, server.port) for _ in range(5)] == [204] * 5
        finally:
            await client.aclose()
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert server.requests[0].endswith(b"\r\n\r\n{}")


async def test_a_connection_closed_while_idle_is_replaced() -> None:
    async with serving(lambda _s, _r: OK, close_after=1) as server:
        client = DeliveryClient()
        try:
            for _ in range(3):
                assert await _post(client, server.port) == 204
                await asyncio.sleep(0)  # let the receiver's close arrive, or not: both must work
        finally:
            await client.aclose()
    assert server.connections == 3
    assert len(server.requests) == 3


async def test_long_answers_are_cut_and_their_connection_dropped() -> None:
    big = b"x" * 10_000
    reply = b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\nRetry-After: 7\r\n\r\n%s" % (len(big), big)
    async with serving(lambda _s, _r: reply) as server:
        client = DeliveryClient()
        try:
            response = await client.post(
                key=("http", "127.0.0.1", server.port, None),
                target="/",
                headers=[("host", "127.0.0.1")],
                body=b"{}",
                limit=64,
                deadline=10,
            )
            assert (response.status, response.body, response.truncated) == (500, b"x" * 64, True)
            assert response.headers["retry-after"] == "7"
            assert await _post(client, server.port) == 500
        finally:
            await client.aclose()
    assert server.connections == 2


async def test_silent_receivers_time_out() -> None:
    async with serving(lambda _s, _r: None) as server:
        client = DeliveryClient()
        try:
            with pytest.raises(TimeoutError):
                await _post(client, server.port, deadline=0.5)
        finally:
            await client.aclose()


async def test_refused_connections_say_so() -> None:
    async with serving(lambda _s, _r: OK) as server:
        port = server.port
    client = DeliveryClient()
    try:
        with pytest.raises(HttpError, match="cannot connect"):
            await _post(client, port)
    finally:
        await client.aclose()
