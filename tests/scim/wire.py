"""Raw HTTP/1.1 over a real socket, for requests no well-behaved client would send.

Responses are parsed with h11 (the server's own parser, on the client side), so a test sees
exactly what came back on the wire, or that nothing did.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from typing import Any

import h11

TIMEOUT = 20.0


@dataclasses.dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def read_response(sock: socket.socket, method: str = "GET") -> RawResponse:
    """The next complete response on ``sock`` to a ``method`` request (a HEAD answer has no
    body); AssertionError when the server closes first."""
    conn = h11.Connection(our_role=h11.CLIENT)
    # h11 parses a response only after it saw a request go out on this connection.
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    status, headers, body = 0, {}, b""
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:  # closed mid-answer, or not HTTP at all
            raise AssertionError(f"no complete answer: {exc}") from exc
        if event is h11.NEED_DATA:
            # An empty read is the close that ends an answer without a length (h11's own 400).
            conn.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return RawResponse(status, headers, body)
        elif isinstance(event, h11.ConnectionClosed):
            raise AssertionError("the server closed the connection without a complete answer")


def exchange(port: int, request: bytes) -> RawResponse:
    """Send ``request`` as is on a new connection and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        method = request.split(b" ", 1)[0]
        return read_response(sock, "HEAD" if method == b"HEAD" else "GET")


def raw_request(
    method: str,
    target: bytes,
    *,
    token: str | None = None,
    body: bytes = b"",
    headers: list[bytes] | None = None,
    host: bytes = b"127.0.0.1",
) -> bytes:
    """A request line, Host, Authorization, Content-Type and -Length, and ``body``, byte for byte."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + host]
    if token is not None:
        lines.append(b"Authorization: Bearer " + token.encode())
    if body:
        lines += [b"Content-Type: application/scim+json", b"Content-Length: %d" % len(body)]
    lines += headers or []
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
