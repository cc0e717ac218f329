"""The procrastinate app of thresher's workers: its tasks, the periodic passes, the worker.

Tasks (queue in brackets):

* ``thresher.sync`` [sync]: one sync of a connection. ``lock`` ``connection:ID`` (never two
  syncs of one connection at once, across all workers) and ``queueing_lock`` ``sync:ID`` (at
  most one waiting), retried with exponential backoff on errors worth retrying.
* ``thresher.refresh`` [tokens]: an OAuth token's refresh ahead of its expiry.
* ``thresher.apply`` [applies]: a saved roster plan applied (``submit_apply``), under the
  connection's lock too.
* ``thresher.schedule`` [schedule], periodic every ``tick`` seconds: defers the syncs that are
  due (``_schedule``); one pass at a time (its own lock).
* ``thresher.recover`` [schedule], periodic every ``tick`` seconds: puts the jobs of workers
  that died (no heartbeat for ``stalled_after`` s) back in the queue. It takes no lock, so a
  scheduling pass that died with its worker (and holds the schedule lock) is recovered too.
* ``thresher.tokens`` [schedule], periodic every minute: defers the refreshes that are due.
* ``thresher.deliver`` [webhooks]: one subscription's due webhook deliveries, sent by the
  dispatcher's own logic. ``lock`` ``subscription:ID`` (never two workers sending one
  subscription's queue at once) and ``queueing_lock`` ``deliver:ID`` (``_deliveries``).
* ``thresher.webhooks`` [webhooks], periodic every ``tick`` seconds: defers the delivery jobs
  that are due; one pass at a time. Each worker on the ``webhooks`` queue also runs the same
  pass as soon as a commit queues deliveries (``_deliveries.CommitListener``).
* ``thresher.prune`` [webhooks], periodic every 10 minutes: forgets webhook attempt logs older
  than their retention (what ``thresher webhooks dispatch`` does on its own timer).

Periodic deferral is procrastinate's: each tick is deferred once per database whatever the
number of workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import httpx
import procrastinate
from procrastinate import JobContext, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException, UniqueViolation
from procrastinate.jobs import Status

from thresher.harvest import RetryableError
from thresher.store import DatabaseBusyError, DatabaseUnavailableError, Store

from ._database import ensure_schema, make_connector
from ._deliveries import QUEUED, CommitListener, Deliveries
from ._runs import Runner
from ._schedule import due_connections, tokens_expiring
from ._settings import QUEUES, JobsSettings

__all__ = ["Jobs"]

log = logging.getLogger("thresher.jobs")

SYNC, REFRESH, APPLY, SCHEDULE, TOKENS, RECOVER = (
    "thresher.sync", "thresher.refresh", "thresher.apply", "thresher.schedule", "thresher.tokens",
    "thresher.recover",
)
DELIVER, WEBHOOKS, PRUNE = "thresher.deliver", "thresher.webhooks", "thresher.prune"
#: The periodic passes: a stalled one is only freed (its next tick does its work).
_PERIODIC = (SCHEDULE, TOKENS, RECOVER, WEBHOOKS, PRUNE)
#: The periodic passes go before any waiting sync: behind a backlog of syncs (a warm-up, a worker
#: lost) a pass that waited its turn would claim nothing new until the backlog drained, and every
#: connection would come due at once after it (bench/scale.py showed that sawtooth).
_PASSES = 100
#: Errors a later attempt may not meet (the client already retried each request).
_RETRYABLE = (RetryableError, DatabaseBusyError, DatabaseUnavailableError, httpx.TransportError)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _tag(context: JobContext) -> str:
    job = context.job
    return f"{job.id}.{job.attempts}"


class Jobs:
    """thresher's job queue on a PostgreSQL store: defer work, run a worker, read the queue.

    ::

        async with Jobs(store) as jobs:
            await jobs.defer_sync(connection.id)
            await jobs.run_worker(concurrency=8)       # until cancelled or signalled
    """

    def __init__(
        self,
        store: Store,
        settings: JobsSettings | None = None,
        *,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or JobsSettings()
        self.concurrency = concurrency
        # One connection per concurrent job, one for the worker's own polling and heartbeats,
        # one for LISTEN (docs/scale-out.md budgets connections with this).
        self.app = procrastinate.App(connector=make_connector(store.url, max_size=concurrency + 2))
        self.runner = Runner(store, self.settings, transport=transport)
        self.deliveries = Deliveries(store, self.settings)
        self._register()

    async def __aenter__(self) -> Jobs:
        await asyncio.to_thread(ensure_schema, self.app, self.store.url)
        await self.app.open_async()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.app.close_async()
        finally:
            await self.runner.aclose()
            await self.deliveries.aclose()

    # -- deferring ---------------------------------------------------------------------------

    async def defer_sync(self, connection_id: int, *, full: bool = False, priority: int = 0) -> int | None:
        """Queue a sync of the connection; None when one is queued already (its queueing lock)."""
        task = self.app.tasks[SYNC]
        try:
            return await task.configure(
                lock=f"connection:{connection_id}", queueing_lock=f"sync:{connection_id}", priority=priority
            ).defer_async(connection_id=connection_id, full=full)
        except AlreadyEnqueued:
            return None

    async def defer_refresh(self, connection_id: int) -> int | None:
        task = self.app.tasks[REFRESH]
        try:
            return await task.configure(queueing_lock=f"refresh:{connection_id}").defer_async(
                connection_id=connection_id
            )
        except AlreadyEnqueued:
            return None

    async def submit_apply(self, connection_id: int, plan_path: str) -> int:
        """Queue the apply of a saved plan (``thresher plan --out``), readable by the workers."""
        task = self.app.tasks[APPLY]
        return await task.configure(lock=f"connection:{connection_id}").defer_async(
            connection_id=connection_id, plan_path=plan_path
        )

    async def defer_delivery(self, subscription_id: int, *, priority: int = 0) -> int | None:
        """Queue a drain of the subscription's due webhooks; None when one waits already."""
        task = self.app.tasks[DELIVER]
        try:
            return await task.configure(
                lock=f"subscription:{subscription_id}", queueing_lock=f"{QUEUED}{subscription_id}",
                priority=priority,
            ).defer_async(subscription_id=subscription_id)
        except AlreadyEnqueued:
            return None

    # -- the worker --------------------------------------------------------------------------

    async def run_worker(
        self, *, queues: Iterable[str] | None = None, name: str | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        """Run jobs until stopped (SIGINT/SIGTERM: jobs in flight finish first)."""
        chosen = list(queues) if queues else list(QUEUES)
        listener: asyncio.Task[None] | None = None
        if "webhooks" in chosen:
            # Deliveries start at the commit that queued them, not at the next tick: the pass
            # runs here at once (one query; the queueing locks make racing workers harmless)
            # rather than as a job, a hop through the queue fewer.
            listener = asyncio.create_task(CommitListener(self.store, self.webhook_pass).run())
        try:
            await self._run_worker(chosen, name, install_signal_handlers)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _run_worker(self, queues: list[str], name: str | None, install_signal_handlers: bool) -> None:
        await self.app.run_worker_async(
            queues=queues,
            concurrency=self.concurrency,
            name=name or f"thresher-worker {self.runner.holder}",
            update_heartbeat_interval=self.settings.heartbeat,
            fetch_job_polling_interval=self.settings.poll_interval,
            stalled_worker_timeout=self.settings.stalled_after,
            install_signal_handlers=install_signal_handlers,
            delete_jobs="successful",
        )

    # -- the tasks ---------------------------------------------------------------------------

    def _register(self) -> None:
        app, settings, runner = self.app, self.settings, self.runner
        retry = RetryStrategy(
            max_attempts=settings.max_attempts, exponential_wait=2, retry_exceptions=_RETRYABLE
        )

        @app.task(name=SYNC, queue="sync", retry=retry, pass_context=True)
        async def sync(context: JobContext, connection_id: int, full: bool = False) -> dict[str, Any]:
            outcome = await runner.sync(connection_id, tag=_tag(context), full=full)
            if outcome.again:
                # Its time was up: back in the queue behind the others, so one connection far
                # behind never holds a worker slot for long.
                await self.defer_sync(connection_id, priority=-1)
            return {"outcome": outcome.outcome, "kind": outcome.kind, "changes": outcome.changes}

        @app.task(name=REFRESH, queue="tokens", retry=retry)
        async def refresh(connection_id: int) -> str:
            return await runner.refresh(connection_id)

        @app.task(name=APPLY, queue="applies", retry=False, pass_context=True)
        async def apply(context: JobContext, connection_id: int, plan_path: str) -> dict[str, int]:
            return await runner.apply(connection_id, plan_path, tag=_tag(context))

        @app.periodic(cron=f"* * * * * */{settings.tick}")
        @app.task(name=SCHEDULE, queue="schedule", lock=SCHEDULE, queueing_lock=SCHEDULE, priority=_PASSES)
        async def schedule(timestamp: int) -> int:
            return await self.schedule_pass()

        @app.periodic(cron=f"* * * * * */{settings.tick}")
        @app.task(name=RECOVER, queue="schedule", queueing_lock=RECOVER, priority=_PASSES)
        async def recover(timestamp: int) -> int:
            return await self.recover_stalled()

        @app.periodic(cron="* * * * *")
        @app.task(name=TOKENS, queue="schedule", lock=TOKENS, queueing_lock=TOKENS, priority=_PASSES)
        async def tokens(timestamp: int) -> int:
            due = await asyncio.to_thread(tokens_expiring, self.store, within=settings.refresh_ahead)
            for connection_id in due:
                await self.defer_refresh(connection_id)
            return len(due)

        @app.task(name=DELIVER, queue="webhooks", retry=retry, pass_context=True)
        async def deliver(context: JobContext, subscription_id: int) -> dict[str, Any]:
            stats, more = await self.deliveries.drain(subscription_id, tag=_tag(context))
            if more:
                # Its time was up: behind the others, so one busy subscription never holds a
                # worker slot for long (what it claimed is recorded; the rest waits, pending).
                await self.defer_delivery(subscription_id, priority=-1)
            return stats.as_dict()

        @app.periodic(cron=f"* * * * * */{settings.tick}")
        @app.task(name=WEBHOOKS, queue="webhooks", lock=WEBHOOKS, queueing_lock=WEBHOOKS, priority=_PASSES)
        async def webhooks(timestamp: int) -> int:
            return await self.webhook_pass()

        @app.periodic(cron="*/10 * * * *")
        @app.task(name=PRUNE, queue="webhooks", lock=PRUNE, queueing_lock=PRUNE, priority=_PASSES)
        async def prune(timestamp: int) -> int:
            return await asyncio.to_thread(self.deliveries.prune)

    async def webhook_pass(self) -> int:
        """Defer a delivery job for each subscription with deliveries due; the number deferred."""
        due = await asyncio.to_thread(self.deliveries.due)
        deferred = 0
        for start in range(0, len(due), 8):
            ids = await asyncio.gather(*(self.defer_delivery(s) for s in due[start:start + 8]))
            deferred += sum(1 for i in ids if i is not None)
        return deferred

    async def schedule_pass(self) -> int:
        """Claim and defer every due sync; the number deferred."""
        due = await asyncio.to_thread(
            due_connections, self.store, f"jobs:{self.runner.holder}", now=_now(), lead=self.settings.lead
        )
        # A few deferrals at a time (each is one round trip), most overdue first.
        deferred = 0
        for start in range(0, len(due), 8):
            batch = due[start:start + 8]
            ids = await asyncio.gather(*(self.defer_sync(item.connection_id) for item in batch))
            deferred += sum(1 for i in ids if i is not None)
        return deferred

    async def recover_stalled(self) -> int:
        """Put the jobs of workers that stopped sending heartbeats (killed, frozen, partitioned)
        back in the queue; the run lease keeps a frozen one that wakes up from writing."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=self.settings.stalled_after)
        recovered = 0
        for job in stalled:
            assert job.id is not None
            try:
                if job.task_name in _PERIODIC:
                    # Periodic: the next tick does its work; this only frees its lock.
                    await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
                    continue
                try:
                    await manager.retry_job(job)
                    recovered += 1
                    log.warning("job %s (%s %s) of a stalled worker put back in the queue",
                                job.id, job.task_name, job.task_kwargs)
                except (UniqueViolation, AlreadyEnqueued):
                    # A newer job of the same connection waits already: it does this one's work.
                    await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
            except ConnectorException as exc:  # another pass got to it first
                log.debug("stalled job %s already handled: %s", job.id, exc)
        return recovered
