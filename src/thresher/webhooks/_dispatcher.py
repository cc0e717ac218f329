"""The dispatcher: claims due deliveries, sends them, records how each went, until stopped.

``run_dispatcher`` is the one entry point (``thresher webhooks dispatch``, and the always-on
service). On PostgreSQL any number may run against one store: claims are taken with
``FOR UPDATE SKIP LOCKED``, so in the normal case no delivery is sent twice. On SQLite one runs
per store, under the store's ``dispatcher`` lease (``DispatcherBusyError`` for a second one).

At most ``max_in_flight`` deliveries are claimed and not yet recorded at any moment; results are
recorded in batches, one transaction each. A dispatcher killed at any point leaves at most that
many deliveries sent but not recorded: they are sent again (same ``webhook-id``) once its claims
expire, or at once when the next SQLite dispatcher takes the lease. Delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

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
from ._secrets import SecretKeeper
from ._sender import Sender
from ._settings import DispatchSettings

__all__ = ["DispatchStats", "run_dispatcher"]

log = logging.getLogger("thresher.webhooks")

T = TypeVar("T")

#: How often old attempt logs are pruned while running.
_PRUNE_EVERY = 600.0


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
        client: httpx.AsyncClient,
        stop: asyncio.Event,
    ) -> None:
        self.records = WebhookStore(store)
        self.dialect = store.dialect
        self.settings = settings
        self.sender = Sender(client, settings, keeper)
        self.stop = stop
        self.holder = LeaseHolder()
        self.lease: Lease | None = None
        self.stats = DispatchStats()
        self.results: list[DeliveryResult] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.in_flight = 0
        self.wake = asyncio.Event()

    async def start(self) -> None:
        if self.dialect == "sqlite":
            try:
                self.lease = await _blocking(
                    lambda: self.records.acquire_dispatcher_lease(self.holder, ttl=self.settings.lease_ttl)
                )
            except LeaseHeldError as exc:
                raise DispatcherBusyError(exc.lease) from None

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

    async def _flush(self) -> None:
        batch, self.results = self.results, []
        if not batch:
            return
        disabled = await _blocking(
            lambda: self.records.complete(batch, disable_after=self.settings.disable_after, lease=self.lease)
        )
        self.in_flight -= len(batch)
        for r in batch:
            if r.ok:
                self.stats.delivered += 1
            elif r.dead:
                self.stats.dead += 1
            else:
                self.stats.failed += 1
        self.stats.disabled.extend(disabled)

    async def _claim(self) -> int:
        free = self.settings.max_in_flight - self.in_flight
        if free <= 0:
            return 0
        claims = await _blocking(
            lambda: self.records.claim(
                self.holder.id, limit=free, ttl=self.settings.claim_ttl, lease=self.lease
            )
        )
        for claim in claims:
            self.in_flight += 1
            task = asyncio.create_task(self._send(claim))
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

    async def run(self, *, until_idle: bool) -> DispatchStats:
        settings = self.settings
        renew_every = min(settings.claim_ttl, settings.lease_ttl) / 3
        renewed = pruned = time.monotonic()
        await _blocking(lambda: self.records.prune(older_than=settings.log_retention))
        while not self.stop.is_set():
            await self._flush()
            claimed = await self._claim()
            if until_idle and not claimed and not self.in_flight:
                break
            now = time.monotonic()
            if now - renewed >= renew_every:
                await self._keep_alive()
                renewed = now
            if now - pruned >= _PRUNE_EVERY:
                await _blocking(lambda: self.records.prune(older_than=settings.log_retention))
                pruned = now
            if self.results or (claimed and self.in_flight < settings.max_in_flight):
                continue
            waiters = {asyncio.ensure_future(self.stop.wait()), asyncio.ensure_future(self.wake.wait())}
            try:
                await asyncio.wait(
                    waiters, timeout=settings.poll_interval, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
            self.wake.clear()
        return self.stats

    async def finish(self) -> None:
        """Let sends under way end (they time out), record them, give back the rest."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=self.settings.timeout + 5)
        for task in list(self.tasks):
            task.cancel()
        await self._flush()
        with contextlib.suppress(Exception):
            await _blocking(lambda: self.records.release_claims(self.holder.id))
        if self.lease is not None:
            lease = self.lease
            with contextlib.suppress(Exception):
                await _blocking(lambda: self.records.release_dispatcher_lease(lease))


async def run_dispatcher(
    store: Store,
    *,
    stop: asyncio.Event | None = None,
    settings: DispatchSettings | None = None,
    keeper: SecretKeeper | None = None,
    until_idle: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DispatchStats:
    """Deliver webhooks from ``store`` until ``stop`` is set (or, ``until_idle``, until nothing is
    due and nothing is in flight). ``DispatcherBusyError`` if another runs on a SQLite store."""
    settings = settings or DispatchSettings()
    stop = stop or asyncio.Event()
    limits = httpx.Limits(
        max_connections=settings.max_in_flight, max_keepalive_connections=settings.max_in_flight
    )
    # trust_env=False: no proxy from the environment sees (or reroutes) deliveries.
    async with httpx.AsyncClient(
        timeout=settings.timeout, follow_redirects=False, limits=limits, trust_env=False, transport=transport
    ) as client:
        dispatcher = _Dispatcher(store, settings, keeper or SecretKeeper(), client, stop)
        await dispatcher.start()
        try:
            return await dispatcher.run(until_idle=until_idle)
        finally:
            await dispatcher.finish()
