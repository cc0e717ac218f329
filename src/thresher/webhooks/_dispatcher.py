"""The dispatcher: claims due deliveries, sends them, records how each went, until stopped.

``run_dispatcher`` is the one entry point (``thresher webhooks dispatch``, and the always-on
service). On PostgreSQL any number may run against one store: claims are taken with
``FOR UPDATE SKIP LOCKED``, so in the normal case no delivery is sent twice. On SQLite one runs
per store, under the store's ``dispatcher`` lease (``DispatcherBusyError`` for a second one).

At most ``max_in_flight`` deliveries are claimed and not yet recorded at any moment. Results are
recorded and the next deliveries claimed together, one transaction per batch
(``WebhookStore.exchange``): after a result arrives the dispatcher lingers a few milliseconds for
others, so a busy dispatcher commits once per many deliveries. A dispatcher killed at any point
leaves at most ``max_in_flight`` deliveries sent but not recorded: they are sent again (same
``webhook-id``) once its claims expire, or at once when the next SQLite dispatcher takes the
lease. Delivery is at least once.

New deliveries are noticed within ``poll_interval`` (SQLite, or a PostgreSQL listener that
failed), or at their commit on PostgreSQL (``LISTEN``/``NOTIFY``, ``WebhookStore.listen``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from thresher.store import (
    DeliveryClaim,
    DeliveryResult,
    Lease,
    LeaseHeldError,
    LeaseHolder,
    Store,
    WebhookStore,
)

from ._errors import DispatcherBusyError
from ._http import DeliveryClient
from ._secrets import SecretKeeper
from ._sender import Sender
from ._settings import DispatchSettings

__all__ = ["DispatchStats", "run_dispatcher"]

log = logging.getLogger("thresher.webhooks")

T = TypeVar("T")

#: How often old attempt logs are pruned while running.
_PRUNE_EVERY = 600.0
#: How long to wait for more results before recording the ones in hand.
_LINGER = 0.01


@dataclasses.dataclass
class DispatchStats:
    """What one dispatcher run did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    disabled: list[int] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def _blocking(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


class _Dispatcher:
    def __init__(
        self,
        store: Store,
        settings: DispatchSettings,
        keeper: SecretKeeper,
        client: DeliveryClient,
        stop: asyncio.Event,
        *,
        metrics: Any = None,
        subscription_id: int | None = None,
    ) -> None:
        self.records = WebhookStore(store)
        #: Only this subscription's deliveries (a worker's delivery job, thresher.jobs).
        self.subscription_id = subscription_id
        self.dialect = store.dialect
        self.settings = settings
        self.sender = Sender(client, settings, keeper)
        self.stop = stop
        self.metrics = metrics
        self.holder = LeaseHolder()
        self.lease: Lease | None = None
        self.stats = DispatchStats()
        self.results: list[DeliveryResult] = []
        self.tasks: set[asyncio.Task[None]] = set()
        #: Claimed and not yet recorded (sending, or sent with the result in ``results``).
        self.in_flight = 0
        self.wake = asyncio.Event()
        self.listening = threading.Event()  # set: the listener stops
        self.listener: asyncio.Future[None] | None = None

    async def start(self) -> None:
        if self.dialect == "sqlite":
            try:
                self.lease = await _blocking(
                    lambda: self.records.acquire_dispatcher_lease(self.holder, ttl=self.settings.lease_ttl)
                )
            except LeaseHeldError as exc:
                raise DispatcherBusyError(exc.lease) from None
        elif self.dialect == "postgresql" and self.subscription_id is None:
            # (A subscription's drain runs until idle; the workers' pass defers the next one.)
            loop = asyncio.get_running_loop()

            def woken() -> None:
                loop.call_soon_threadsafe(self.wake.set)

            self.listener = loop.run_in_executor(None, self.records.listen, woken, self.listening)

    async def _send(self, claim: DeliveryClaim) -> None:
        try:
            result = await self.sender.send(claim)
        except Exception as exc:  # never lose a claim's outcome: record it as a failed attempt
            log.exception("delivery %s failed unexpectedly", claim.delivery_id)
            delay = self.settings.retry_delay(claim.attempts + 1)
            result = DeliveryResult(
                claim.delivery_id,
                claim.subscription_id,
                False,
                None,
                f"{type(exc).__name__}",
                0.0,
                "",
                None,
                retry_in=delay or 0.0,
                dead=delay is None,
            )
        self.results.append(result)
        self.wake.set()

    def _count(self, batch: list[DeliveryResult], disabled: list[int]) -> None:
        for r in batch:
            outcome = "delivered" if r.ok else ("dead" if r.dead else "failed")
            if r.ok:
                self.stats.delivered += 1
            elif r.dead:
                self.stats.dead += 1
            else:
                self.stats.failed += 1
            if self.metrics is not None:
                self.metrics.webhook_deliveries.labels(str(r.subscription_id), outcome).inc()
        self.stats.disabled.extend(disabled)

    async def _exchange(self, *, claim: bool = True) -> int:
        """Record the results in hand and claim what the freed slots allow: one transaction."""
        batch, self.results = self.results, []
        free = self.settings.max_in_flight - self.in_flight + len(batch) if claim else 0
        if not batch and free <= 0:
            return 0
        settings = self.settings
        disabled, claims = await _blocking(
            lambda: self.records.exchange(
                batch,
                self.holder.id,
                limit=free,
                ttl=settings.claim_ttl,
                disable_after=settings.disable_after,
                lease=self.lease,
                subscription_id=self.subscription_id,
            )
        )
        self.in_flight -= len(batch)
        self._count(batch, disabled)
        for c in claims:
            self.in_flight += 1
            task = asyncio.create_task(self._send(c))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return len(claims)

    async def _keep_alive(self) -> None:
        settings = self.settings
        if self.lease is not None:
            lease = self.lease
            self.lease = await _blocking(
                lambda: self.records.renew_dispatcher_lease(lease, ttl=settings.lease_ttl)
            )
        if self.in_flight:
            await _blocking(lambda: self.records.renew_claims(self.holder.id, ttl=settings.claim_ttl))

    async def _woken(self, wait: float) -> bool:
        """Wait until woken (a result, a notification) or ``wait`` seconds; False if not woken."""
        if not self.wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self.wake.wait()
        woken = self.wake.is_set()
        self.wake.clear()
        return woken

    async def _gather(self) -> None:
        """Results trickle in one by one: wait a moment for more, so one commit records many."""
        wanted = min(self.in_flight, max(1, self.settings.max_in_flight // 4))
        deadline = time.monotonic() + _LINGER
        while len(self.results) < wanted and not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or not await self._woken(left):
                return

    async def run(self, *, until_idle: bool) -> DispatchStats:
        settings = self.settings
        renew_every = min(settings.claim_ttl, settings.lease_ttl) / 3
        renewed = pruned = time.monotonic()
        # A subscription's drain is one short job of many: the workers prune on a timer of
        # their own (thresher.jobs), not a scan of the attempt log per job.
        prunes = self.subscription_id is None
        if prunes:
            await _blocking(lambda: self.records.prune(older_than=settings.log_retention))
        stopping = asyncio.ensure_future(self.stop.wait())
        stopping.add_done_callback(lambda _: self.wake.set())
        try:
            while not self.stop.is_set():
                claimed = await self._exchange()
                if until_idle and not claimed and not self.in_flight:
                    break
                now = time.monotonic()
                if now - renewed >= renew_every:
                    await self._keep_alive()
                    renewed = now
                if prunes and now - pruned >= _PRUNE_EVERY:
                    await _blocking(lambda: self.records.prune(older_than=settings.log_retention))
                    pruned = now
                if not self.results:
                    await self._woken(settings.poll_interval)
                if self.results:
                    await self._gather()
        finally:
            stopping.cancel()
        return self.stats

    async def finish(self) -> None:
        """Let sends under way end (they time out), record them, give back the rest."""
        self.listening.set()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=self.settings.timeout + 5)
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._exchange(claim=False)
        with contextlib.suppress(Exception):
            await _blocking(lambda: self.records.release_claims(self.holder.id))
        if self.lease is not None:
            lease = self.lease
            with contextlib.suppress(Exception):
                await _blocking(lambda: self.records.release_dispatcher_lease(lease))
        if self.listener is not None:
            await self.listener


async def run_dispatcher(
    store: Store,
    *,
    stop: asyncio.Event | None = None,
    settings: DispatchSettings | None = None,
    keeper: SecretKeeper | None = None,
    until_idle: bool = False,
    metrics: Any = None,
    subscription_id: int | None = None,
    client: DeliveryClient | None = None,
) -> DispatchStats:
    """Deliver webhooks from ``store`` until ``stop`` is set (or, ``until_idle``, until nothing is
    due and nothing is in flight). ``DispatcherBusyError`` if another runs on a SQLite store.

    ``subscription_id``: that subscription's deliveries only (``thresher worker``'s delivery
    jobs, docs/scale-out.md); retries, order, dead letters and disabling work as for all.
    ``client``: a ``DeliveryClient`` shared by many runs (its kept-alive connections and TLS
    context outlive each), left open; by default the run makes and closes its own.

    ``metrics``: anything with ``webhook_deliveries.labels(subscription, outcome).inc()`` (the
    service's ``Metrics``, which finds this function by name: serve/_components.py); outcomes
    are ``delivered``, ``failed`` and ``dead``."""
    settings = settings or DispatchSettings()
    stop = stop or asyncio.Event()
    own = client is None
    client = client or DeliveryClient()  # no proxy from the environment sees (or reroutes) deliveries
    try:
        dispatcher = _Dispatcher(
            store, settings, keeper or SecretKeeper(), client, stop, metrics=metrics,
            subscription_id=subscription_id,
        )
        await dispatcher.start()
        try:
            return await dispatcher.run(until_idle=until_idle)
        finally:
            await dispatcher.finish()
    finally:
        if own:
            await client.aclose()
