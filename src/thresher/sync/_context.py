"""What the phases of one run share: the store, the client, the lease, the report so far."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from thresher.harvest import AsyncHarvest
from thresher.store import ChangeEvent, Store, StoredConnection

from ._lease import RunLease
from ._report import ProgressCallback, SyncOptions, SyncReport

__all__ = ["RunContext", "blocking", "first_error"]

T = TypeVar("T")


@dataclasses.dataclass
class RunContext:
    store: Store
    client: AsyncHarvest
    connection: StoredConnection
    options: SyncOptions
    clock: Callable[[], dt.datetime]
    lease: RunLease
    report: SyncReport
    progress: ProgressCallback | None
    #: What this run has committed, for the message when it is superseded.
    pages_committed: int = 0
    lists_committed: int = 0

    def count(self, events: Iterable[ChangeEvent]) -> None:
        for e in events:
            if e.resource == "user":
                self.report.events[e.kind] += 1
            elif e.resource == "role":
                self.report.role_events[e.kind] += 1

    def written(self) -> str:
        """The last thing this run committed, as the superseded message names it."""
        if self.lists_committed:
            return f"teammate list {self.lists_committed} (after {self.pages_committed} page(s))"
        return f"page {self.pages_committed}"


async def blocking(fn: Callable[[], T]) -> T:
    """Run a blocking store call in a worker thread, so the event loop keeps the next request on
    the wire meanwhile. A commit in flight cannot be stopped: when the caller is cancelled it
    still waits for it to land (or fail its fencing check) before going on, e.g. to release the
    lease."""
    task = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise


async def first_error(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the coroutines as tasks; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    if not tasks:
        return
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
