"""Webhook delivery as jobs: one subscription's due deliveries drained by one job at a time.

The dispatcher (``thresher.webhooks.run_dispatcher``) keeps everything that makes delivery
correct: claims with an expiry, per-user order, retries with backoff, dead letters, disabling a
subscription that keeps failing (docs/webhooks.md). The queue adds placement and exclusion:

* ``thresher.deliver`` runs the dispatcher restricted to one subscription until nothing of it is
  due (or ``max_run_s`` is up: it re-defers itself behind the others), under the lock
  ``subscription:ID``, so two workers never send one subscription's queue at once.
* ``thresher.webhooks``, the delivery pass, defers a ``thresher.deliver`` for every subscription
  with a claimable delivery (:meth:`WebhookStore.due_subscriptions`). It runs every tick (the
  backstop: retries coming due, claims of a killed worker expiring) and, through
  :class:`CommitListener`, as soon as a commit queues deliveries (``NOTIFY``).

Nothing lives only in the queue: a delivery stays ``pending`` in the store until its result is
recorded, so a worker killed at any point loses nothing. Its claims expire after
``webhook_claim_ttl`` and the next pass defers the subscription again; what it had sent but not
recorded (at most ``webhook_in_flight``) is sent again with the same ``webhook-id``: the
at-least-once bound docs/webhooks.md states.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from thresher.store import Store, WebhookStore
from thresher.webhooks import (
    DeliveryClient,
    DispatchSettings,
    DispatchStats,
    SecretKeeper,
    run_dispatcher,
)

from ._settings import JobsSettings

__all__ = ["CommitListener", "Deliveries"]

log = logging.getLogger("thresher.jobs")

#: The queueing lock of a subscription's waiting delivery job (``deliver:ID``).
QUEUED = "deliver:"
_WAITING = text(
    "SELECT queueing_lock FROM procrastinate_jobs WHERE status = 'todo' AND queueing_lock LIKE 'deliver:%'"
)


class Deliveries:
    """The bodies of the delivery jobs of one worker process."""

    def __init__(self, store: Store, settings: JobsSettings, *, keeper: SecretKeeper | None = None) -> None:
        self.store = store
        self.settings = settings
        self.keeper = keeper or SecretKeeper()
        self.records = WebhookStore(store)
        self.dispatch = DispatchSettings(
            max_in_flight=settings.webhook_in_flight,
            claim_ttl=settings.webhook_claim_ttl,
            timeout=settings.webhook_timeout,
        )
        #: One client for every delivery job of this worker: connections to a receiver stay
        #: open from one job to the next, and the TLS context is built once.
        self.client = DeliveryClient()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def drain(self, subscription_id: int, *, tag: str) -> tuple[DispatchStats, bool]:
        """Send the subscription's due deliveries until none is left or ``max_run_s`` is up;
        the stats and whether time ran out (then the caller re-defers the job)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.settings.max_run_s, stop.set)
        # The job in the User-Agent: receivers and operators can tell which job sent what.
        settings = dataclasses.replace(self.dispatch, user_agent=f"{self.dispatch.user_agent} job/{tag}")
        try:
            stats = await run_dispatcher(
                self.store, stop=stop, settings=settings, keeper=self.keeper, until_idle=True,
                subscription_id=subscription_id, client=self.client,
            )
        finally:
            timer.cancel()
        return stats, stop.is_set()

    def prune(self) -> int:
        """Forget attempt logs past their retention (``DispatchSettings.log_retention``)."""
        return self.records.prune(older_than=self.dispatch.log_retention)

    def due(self) -> list[int]:
        """Subscriptions with a claimable delivery and no delivery job waiting already (one
        running may be about to finish: a waiting one then follows it)."""
        due = self.records.due_subscriptions()
        if not due:
            return []
        with self.store.engine.connect() as conn:
            waiting = {str(lock) for lock in conn.execute(_WAITING).scalars()}
        return [s for s in due if f"{QUEUED}{s}" not in waiting]


class CommitListener:
    """Calls ``wake`` soon after each commit that queued deliveries (PostgreSQL ``NOTIFY``,
    ``WebhookStore.listen``), at most once per ``debounce`` seconds; a lost listener costs only
    promptness, the periodic pass still runs."""

    def __init__(
        self, store: Store, wake: Callable[[], Awaitable[object]], *, debounce: float = 0.05
    ) -> None:
        self.records = WebhookStore(store)
        self.wake = wake
        self.debounce = debounce

    async def run(self) -> None:
        """Until cancelled."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        stop = threading.Event()

        def notified() -> None:
            loop.call_soon_threadsafe(woken.set)

        listening = loop.run_in_executor(None, self.records.listen, notified, stop)
        try:
            while True:
                await woken.wait()
                woken.clear()
                try:
                    await self.wake()
                except Exception as exc:  # the periodic pass catches up
                    log.warning("could not defer a webhook delivery pass: %s", exc)
                await asyncio.sleep(self.debounce)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.shield(listening)
