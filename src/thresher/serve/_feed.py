"""The change feed: follows the store's change log and fans new events out.

One tail per process reads events after its cursor every ``poll`` seconds (one indexed query),
counts them in ``/metrics`` (events written by any process on the store: a sync here, a sync in
another ``serve``, a CLI write) and hands them to each live subscriber (the dashboard's
server-sent events). A subscriber that does not keep up loses the oldest events, never blocks
the tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from thresher.store import ChangeEvent, Store, StoreError

from ._metrics import Metrics

__all__ = ["EventTail", "event_dict"]

log = logging.getLogger("thresher.serve")


def event_dict(event: ChangeEvent, connection: str | None = None, email: str | None = None) -> dict[str, Any]:
    """An event as the API and the feed show it (the change log's own JSON, plus names)."""
    data = event.as_dict()
    data["connection"] = connection
    data["email"] = email
    return data


class EventTail:
    def __init__(self, store: Store, metrics: Metrics, *, poll: float = 1.0, queue_size: int = 500) -> None:
        self.store = store
        self.metrics = metrics
        self.poll = poll
        self.queue_size = queue_size
        self.cursor = 0
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._names: dict[int, str] = {}
        self._emails: dict[tuple[int, int], str] = {}

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def describe(self, event: ChangeEvent) -> dict[str, Any]:
        """The event with its connection's name and the user's email (read once, then cached)."""
        if event.connection_id not in self._names:
            self._names = {c.id: c.name for c in self.store.list_connections()}
        email = None
        if event.resource == "user":
            key = (event.connection_id, event.harvest_id)
            email = self._emails.get(key)
            if email is None:
                user = self.store.get_user(event.connection_id, event.harvest_id, include_deleted=True)
                if user is not None:
                    email = self._emails[key] = user.email
        return event_dict(event, self._names.get(event.connection_id), email)

    def _read(self) -> list[dict[str, Any]]:
        events = self.store.list_events(since=self.cursor, limit=1000)
        if events:
            self.cursor = events[-1].id
        return [self.describe(e) for e in events]

    async def run(self, stop: asyncio.Event) -> None:
        self.cursor = await asyncio.to_thread(self.store.last_event_id)
        while not stop.is_set():
            try:
                fresh = await asyncio.to_thread(self._read)
            except StoreError as exc:
                log.warning("could not read the change log: %s", exc)
                fresh = []
            for data in fresh:
                self.metrics.change_events.labels(data["connection"] or "", data["kind"]).inc()
                for queue in list(self._subscribers):
                    if queue.full():
                        with contextlib.suppress(asyncio.QueueEmpty):
                            queue.get_nowait()
                    queue.put_nowait(data)
            if len(fresh) < 1000:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll)
