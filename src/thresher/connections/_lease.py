"""The credentials lease: one writer of a connection's stored credentials at a time.

Every process that refreshes an OAuth token (or rewrites a blob in an outdated format) holds the
connection's ``credentials`` lease while it re-reads, refreshes and saves, so two processes never
both spend the same refresh token (the sandbox's, and perhaps Harvest's, are single use:
docs/harvest-api.md §5.2). The lease is the store's (docs/architecture.md, "Coordination between
processes"): a holder that dies is replaced once its short TTL has run out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from thresher.store import Lease, LeaseHeldError, LeaseHolder, Store, StoreError

from ._errors import CredentialsBusyError

__all__ = ["CREDENTIALS_PURPOSE", "credentials_lease"]

_log = logging.getLogger("thresher.connections")

CREDENTIALS_PURPOSE = "credentials"
#: Long enough for one token request (the client's timeout is 30 s); a dead holder's lease is
#: taken over after this.
LEASE_TTL = 60.0
#: How long to wait for a lease others keep renewing: a live holder is done in seconds.
MAX_WAIT = 3 * LEASE_TTL
_POLL = 0.05


@contextmanager
def credentials_lease(
    store: Store, connection_id: int, *, wait: bool = True
) -> Iterator[Lease | None]:
    """Hold the connection's credentials lease for the block. While another process holds it,
    wait (``wait``) or yield None at once (the caller then skips what it meant to do)."""
    holder = LeaseHolder()
    deadline = time.monotonic() + MAX_WAIT
    waiting = False
    while True:
        try:
            lease = store.acquire_lease(connection_id, CREDENTIALS_PURPOSE, holder, ttl=LEASE_TTL)
            break
        except LeaseHeldError as exc:
            if not wait:
                yield None
                return
            if not waiting:
                waiting = True
                _log.info(
                    "waiting for the credentials lease of connection %d (pid %d on %s)",
                    connection_id, exc.lease.pid, exc.lease.host,
                )
            if time.monotonic() > deadline:
                raise CredentialsBusyError(
                    "another process has been refreshing this connection's token for "
                    f"{MAX_WAIT:.0f} s (pid {exc.lease.pid} on {exc.lease.host})",
                    hint="Retry in a minute; a process that died gives the lease up by itself.",
                ) from None
            time.sleep(_POLL)
    try:
        yield lease
    finally:
        try:
            store.release_lease(lease)
        except StoreError:
            # It expires by itself within LEASE_TTL; the refresh itself is done and saved.
            _log.warning("could not release the credentials lease of connection %d", connection_id)
