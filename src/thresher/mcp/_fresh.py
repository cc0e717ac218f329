"""How fresh the mirror is, and an incremental sync when it is older than the server allows.

Read tools answer from the roster mirror (no Harvest request) and say how old it is. When the
last sync is older than ``max_age``, the next read first runs an incremental sync
(``thresher.sync``: under the connection's run lease, so a sync another process is running is
waited for briefly, not duplicated). When Harvest cannot be reached the answer still comes, from
the mirror as it is, saying why it could not be refreshed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from thresher._errors import ThresherError
from thresher.store import USERS_RESOURCE, Store, StoredConnection
from thresher.sync import RosterSync, SyncBusyError

__all__ = ["MirrorFreshness"]

log = logging.getLogger("thresher.mcp")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MirrorFreshness:
    """Keeps one connection's mirror within ``max_age`` of Harvest while tools read it.

    ``sync`` None: never syncs (a server on a mirror someone else keeps fresh), only reports age.
    """

    def __init__(
        self,
        store: Store,
        connection: StoredConnection,
        sync: RosterSync | None,
        *,
        max_age: dt.timedelta = dt.timedelta(minutes=5),
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.connection = connection
        self.sync = sync
        self.max_age = max_age
        self._clock = clock
        self._as_of: dt.datetime | None = None
        self._lock = asyncio.Lock()

    def _stored_as_of(self) -> dt.datetime | None:
        state = self.store.get_sync_state(self.connection.id, USERS_RESOURCE)
        return state.high_water_mark

    def _stale(self, as_of: dt.datetime | None) -> bool:
        return as_of is None or self._clock() - as_of > self.max_age

    async def ensure(self) -> dict[str, Any]:
        """Sync first if the mirror is too old; then how fresh it is, as tools report it."""
        if not self._stale(self._as_of):
            return self._report(refreshed=False)
        async with self._lock:
            # Another process (thresher sync --watch, thresher serve) may have synced meanwhile.
            self._as_of = self._stored_as_of()
            if not self._stale(self._as_of):
                return self._report(refreshed=False)
            return await self.refresh()

    async def refresh(self, *, wait: float = 30.0, strict: bool = False) -> dict[str, Any]:
        """An incremental sync now (a full one if the mirror never had one). ``strict``: a sync
        that cannot run raises instead of reporting the mirror as it is."""
        if self.sync is None:
            return self._report(refreshed=False, note="this server does not sync; the mirror is as shown")
        try:
            report = await self.sync.run(wait=True, wait_timeout=wait)
        except SyncBusyError:
            if strict:
                raise
            self._as_of = self._stored_as_of()
            return self._report(refreshed=False, note="another sync of this connection is running")
        except ThresherError as exc:
            if strict:
                raise
            log.warning("mirror not refreshed: %s", exc)
            self._as_of = self._stored_as_of()
            return self._report(refreshed=False, note=f"could not refresh from Harvest: {exc}")
        self._as_of = self._stored_as_of()
        return self._report(refreshed=True, changes=sum(report.events.values()))

    def _report(
        self, *, refreshed: bool, note: str | None = None, changes: int | None = None
    ) -> dict[str, Any]:
        as_of = self._as_of
        age = None if as_of is None else max(0.0, (self._clock() - as_of).total_seconds())
        out: dict[str, Any] = {
            "as_of": None if as_of is None else as_of.isoformat(),
            "age_seconds": None if age is None else round(age, 1),
            "synced_now": refreshed,
        }
        if changes is not None:
            out["changes_synced"] = changes
        if note:
            out["note"] = note
        if as_of is None:
            out["note"] = (note + "; " if note else "") + "the mirror was never synced: run 'thresher sync'"
        return out
