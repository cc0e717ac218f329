"""A small HTTP/1.1 client for deliveries: keep-alive connections per host, one POST at a time each.

Why not httpx here: a delivery is one POST with a known body, and httpx's general machinery
(connection-pool bookkeeping that checks every idle connection per request, cookies, auth and
redirect layers) cost the dispatcher more CPU per delivery than signing and the database together
(bench/webhooks.py; docs/webhooks.md, "Throughput"). This client does only what a delivery needs:
- a connection per ``(scheme, address, port, TLS name)``, reused while the receiver keeps it
  alive, closed when a response is cut short or the receiver says ``Connection: close``;
- TLS verified against certifi's roots (as httpx does), with the subscription's host name as SNI
  and for the certificate check, while the socket goes to the address ``_targets`` checked;
- one deadline per request (connect, send and read together), ``TimeoutError`` when it passes;
- a response body read up to ``limit`` bytes (the attempt log keeps no more);
- a request on a reused connection that the receiver had already closed is sent once more on a
  new one (a delivery is at least once anyway, with a stable ``webhook-id``).
Parsing is h11's (httpx's own HTTP/1.1 parser). Redirects are never followed: a 3xx is returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl

import certifi
import h11

__all__ = ["DeliveryClient", "HttpError", "HttpResponse"]

#: Idle connections kept per host (beyond it, finished connections are closed).
_IDLE_PER_HOST = 32


class HttpError(Exception):
    """The exchange failed: refused, reset, closed early, or not HTTP."""


@dataclasses.dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    #: At most ``limit`` bytes of the body, and whether there was more.
    body: bytes
    truncated: bool


@dataclasses.dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection
    reused: bool = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


_Key = tuple[str, str, int, str | None]


class DeliveryClient:
    """POSTs over kept-alive HTTP/1.1 connections. Close it with ``aclose``."""

    def __init__(self) -> None:
        self._idle: dict[_Key, list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=certifi.where())
        return self._tls

    async def _connect(self, key: _Key) -> _Connection:
        scheme, address, port, server_name = key
        tls = self._context() if scheme == "https" else None
        try:
            reader, writer = await asyncio.open_connection(
                address, port, ssl=tls, server_hostname=(server_name or address) if tls else None
            )
        except ssl.SSLError as exc:
            raise HttpError(f"TLS failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise HttpError(f"cannot connect: {exc.strerror or exc}") from None
        return _Connection(reader, writer, h11.Connection(our_role=h11.CLIENT))

    def _checkout(self, key: _Key) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                conn.reused = True
                return conn
            conn.close()
        return None

    def _checkin(self, key: _Key, conn: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < _IDLE_PER_HOST:
            idle.append(conn)
        else:
            conn.close()

    async def post(
        self,
        *,
        key: _Key,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        limit: int,
        deadline: float,
    ) -> HttpResponse:
        """POST ``body`` to ``target`` (path and query) over a connection for ``key``
        (scheme, address, port, TLS server name) within ``deadline`` seconds; ``headers`` must
        include ``host``."""
        async with asyncio.timeout(deadline):
            conn = self._checkout(key)
            if conn is not None:
                try:
                    return await self._exchange(key, conn, target, headers, body, limit)
                except _Stale:
                    pass  # closed by the receiver while idle: once more on a new connection
            conn = await self._connect(key)
            try:
                return await self._exchange(key, conn, target, headers, body, limit)
            except _Stale:
                raise HttpError("the receiver closed the connection without answering") from None

    async def _exchange(  # noqa: PLR0917 - private, called from one place
        self,
        key: _Key,
        conn: _Connection,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        limit: int,
    ) -> HttpResponse:
        answered = False
        done = False
        try:
            request = h11.Request(
                method="POST", target=target, headers=[*headers, ("content-length", str(len(body)))]
            )
            data = conn.h11.send(request) or b""
            data += conn.h11.send(h11.Data(data=body)) or b""
            data += conn.h11.send(h11.EndOfMessage()) or b""
            conn.writer.write(data)
            await conn.writer.drain()
            status = 0
            found: dict[str, str] = {}
            received = bytearray()
            truncated = False
            while True:
                event = conn.h11.next_event()
                if event is h11.NEED_DATA:
                    chunk = await conn.reader.read(65536)
                    if not chunk and not answered and conn.reused:
                        raise _Stale
                    conn.h11.receive_data(chunk)
                    continue
                if isinstance(event, h11.Response):
                    answered = True
                    status = event.status_code
                    found = {k.decode().lower(): v.decode(errors="replace") for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    received += event.data
                    if len(received) > limit:
                        truncated = True
                        break  # the log keeps no more; this connection is not reused
                elif isinstance(event, h11.EndOfMessage):
                    done = True
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    if not answered and conn.reused:
                        raise _Stale
                    raise HttpError("the receiver closed the connection mid-answer")
            response = HttpResponse(status, found, bytes(received[:limit]), truncated)
        except (ConnectionError, h11.RemoteProtocolError, h11.LocalProtocolError) as exc:
            conn.close()
            if conn.reused and not answered:
                raise _Stale from None
            raise HttpError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        except BaseException:
            conn.close()  # cancelled, timed out, or refused by h11 itself: never reused
            raise
        if done and conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            conn.reused = False
            self._checkin(key, conn)
        else:
            conn.close()
        return response

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


class _Stale(Exception):
    """A kept-alive connection the receiver had closed: nothing was answered on it."""
