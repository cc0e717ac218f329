"""A webhook receiver on 127.0.0.1 for the tests: records every request, answers as scripted.

Served by uvicorn in a thread (``thresher._serving.serve_in_thread``). ``script`` holds the
answers of the next requests in order (status, Retry-After, or a delay that outlasts the
dispatcher's timeout); once it is empty every request gets 200. Verification uses the published
``standardwebhooks`` library, as a real receiver would.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from standardwebhooks import Webhook

from thresher._serving import serve_in_thread


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    location: str | None = None


@dataclasses.dataclass(frozen=True)
class Span:
    """One request as the receiver saw it from arrival to its answer sent (monotonic clock):
    what tells whether two senders overlapped."""

    path: str
    user_agent: str
    message_id: str
    started: float
    ended: float


@dataclasses.dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    def payload(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.spans: list[Span] = []
        self.script: collections.deque[Reply] = collections.deque()
        #: The answer once ``script`` is empty.
        self.default = Reply()
        self._lock = threading.Lock()
        self.url = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        started = time.monotonic()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        with self._lock:
            reply = self.script.popleft() if self.script else self.default
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._lock:
            self.received.append(Received(headers, body, reply.status))
        if reply.delay:
            await asyncio.sleep(reply.delay)
        out = [(b"content-type", b"text/plain")]
        if reply.retry_after is not None:
            out.append((b"retry-after", reply.retry_after.encode()))
        if reply.location is not None:
            out.append((b"location", reply.location.encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": out})
        await send({"type": "http.response.body", "body": b"ok"})
        span = Span(scope["path"], headers.get("user-agent", ""), headers.get("webhook-id", ""), started,
                    time.monotonic())
        with self._lock:
            self.spans.append(span)

    def delivered(self) -> list[Received]:
        """Requests answered 2xx (a timed-out one was answered too late: not delivered)."""
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def ids(self) -> set[str]:
        return {r.message_id for r in self.delivered()}

    def wait_for(self, condition: Callable[[Receiver], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"receiver: condition not met within {timeout} s ({len(self.received)} received)"
                )
            time.sleep(0.02)

    async def until(self, condition: Callable[[Receiver], bool], within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"receiver: condition not met within {within} s ({len(self.received)} received)"
                )
            await asyncio.sleep(0.02)


@contextlib.contextmanager
def serve_receiver(path: str = "/hook") -> Iterator[Receiver]:
    receiver = Receiver()
    with serve_in_thread(receiver, name="webhook-receiver") as port:
        receiver.url = f"http://127.0.0.1:{port}{path}"
        yield receiver


def verify(secret: str, received: Received) -> Any:
    """What a receiver does: the published library checks the signature and the timestamp."""
    return Webhook(secret).verify(received.body, received.headers)
