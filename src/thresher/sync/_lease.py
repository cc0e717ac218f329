"""The run lease: one sync per connection at a time, across processes and machines.

A run takes the connection's ``sync`` lease before it reads anything, renews it by heartbeat, and
checks it in every transaction it commits (the fencing check of docs/architecture.md,
"Coordination between processes"): a process paused past the lease's expiry, whose lease another
run took over, fails its next commit instead of writing over the newer run's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time

from thresher.store import Lease, LeaseHeldError, LeaseHolder, LeaseLostError, Store, StoreError

from ._errors import SyncBusyError

__all__ = ["PURPOSE", "RunLease"]

log = logging.getLogger("thresher.sync")

PURPOSE = "sync"


def _process_gone(lease: Lease, holder: LeaseHolder) -> bool:
    """Whether the holder is a process of this machine that no longer exists (killed, crashed).

    Only a positive "no such process" counts; anything else (another machine, a pid that exists,
    a process of another user) waits for the lease to expire."""
    if lease.host != holder.host or lease.pid == holder.pid or lease.pid <= 0:
        return False
    try:
        os.kill(lease.pid, 0)
    except OSError as exc:
        return exc.errno == errno.ESRCH
    return False


class RunLease:
    """The ``sync`` lease of one connection for one run: take, heartbeat, release."""

    def __init__(
        self, store: Store, connection_id: int, connection_name: str, *, ttl: float, poll: float
    ) -> None:
        self._store = store
        self._connection_id = connection_id
        self._name = connection_name
        self._ttl = ttl
        self._poll = poll
        self._holder = LeaseHolder()
        self._lease: Lease | None = None

    @property
    def lease(self) -> Lease:
        assert self._lease is not None, "the lease is not held"
        return self._lease

    async def acquire(self, *, wait: bool, wait_timeout: float | None) -> Lease:
        """Take the lease; ``SyncBusyError`` if another live run holds it (after ``wait_timeout`` s
        when ``wait``, at once otherwise)."""
        started = time.monotonic()
        while True:
            try:
                self._lease = await asyncio.to_thread(self._take)
                return self._lease
            except LeaseHeldError as held:
                waited = time.monotonic() - started
                if not wait:
                    raise SyncBusyError(self._name, held.lease) from None
                if wait_timeout is not None and waited >= wait_timeout:
                    raise SyncBusyError(self._name, held.lease, waited=waited) from None
                delay = self._poll if wait_timeout is None else min(self._poll, wait_timeout - waited)
                await asyncio.sleep(max(delay, 0.0))

    def _take(self) -> Lease:
        try:
            return self._store.acquire_lease(self._connection_id, PURPOSE, self._holder, ttl=self._ttl)
        except LeaseHeldError as held:
            if not _process_gone(held.lease, self._holder):
                raise
            # Its holder died on this machine (SIGKILL, OOM): end the lease now rather than make
            # every run wait for its expiry. Ending it through its own holder and token means a
            # holder that did renew meanwhile is left alone.
            log.info(
                "sync lease of %s: holder pid %s on %s is gone; taking over",
                self._name, held.lease.pid, held.lease.host,
            )
            with contextlib.suppress(LeaseLostError):
                self._store.renew_lease(held.lease, ttl=-1)
            return self._store.acquire_lease(self._connection_id, PURPOSE, self._holder, ttl=self._ttl)

    async def heartbeat(self, every: float) -> None:
        """Renew every ``every`` seconds until cancelled; ``LeaseLostError`` when taken over.

        A failed renewal for another reason (a busy or unreachable database) is retried at the
        next beat: the commits' own fencing checks still stop this run if the lease is lost."""
        while True:
            await asyncio.sleep(every)
            try:
                self._lease = await asyncio.to_thread(self._store.renew_lease, self.lease, ttl=self._ttl)
            except LeaseLostError:
                raise
            except StoreError as exc:
                log.warning("could not renew the sync lease of %s: %s", self._name, exc)

    async def release(self) -> None:
        """Give the lease up (a lease lost meanwhile is left to its new holder)."""
        if self._lease is None:
            return
        lease, self._lease = self._lease, None
        try:
            await asyncio.to_thread(self._store.release_lease, lease)
        except StoreError as exc:  # it expires by itself
            log.warning("could not release the sync lease of %s: %s", self._name, exc)
