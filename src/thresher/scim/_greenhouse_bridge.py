"""``ScimBridge`` for a Greenhouse Recruiting connection: the same app, tokens, auth and counters,
over ``GreenhouseStorage`` and ``greenhouse_provider()`` (Users only; docs/greenhouse.md §6).

    bridge = GreenhouseScimBridge(open_greenhouse(store, "gh"), store, connection, TokenStore(store))
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount

from thresher.greenhouse import AsyncGreenhouse
from thresher.store import Store, StoredConnection
from thresher.sync import GreenhouseSync, SyncBusyError

from ._app import ScimBridge, _BridgeApplication, _resource_model, log
from ._greenhouse_storage import GreenhouseScimUser, GreenhouseStorage, greenhouse_provider
from ._tokens import TokenStore

__all__ = ["GreenhouseScimBridge"]


class GreenhouseScimBridge(ScimBridge):
    """The bridge for one Greenhouse connection, mounted at ``/scim/v2``.

    ``sync``: incremental Greenhouse syncs every ``sync_interval`` seconds while serving.
    ``close_client``: close the Greenhouse client when the server shuts down (it owns it)."""

    def __init__(
        self,
        client: AsyncGreenhouse,
        store: Store,
        connection: StoredConnection,
        tokens: TokenStore,
        *,
        sync: GreenhouseSync | None = None,
        sync_interval: float = 60.0,
        flush_interval: float = 5.0,
        close_client: bool = False,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.sync = None
        self.greenhouse_sync = sync
        self.sync_interval = sync_interval
        self.flush_interval = flush_interval
        self.close_client = close_client
        self.provider = greenhouse_provider()
        # The provider's User model carries the enterprise extension: reads and writes use it.
        user_model = _resource_model(self.provider.model_for("User"), GreenhouseScimUser)
        self.storage = GreenhouseStorage(client, store, connection, user_model, user_model)
        self.work = self.storage.work
        self.scim = _BridgeApplication(self.storage, self)
        mount = Mount("/scim", app=self.scim)  # type: ignore[arg-type]
        self.app = Starlette(
            routes=[mount], lifespan=self._lifespan, exception_handlers={404: self._not_found}
        )

    async def check_rate_wait(self) -> None:
        """Greenhouse's client paces itself by the windows its answers announce and has no
        forecast of its wait (docs/greenhouse.md): no early 429 here."""

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self._flush_counts())]
        if self.greenhouse_sync is not None:
            tasks.append(asyncio.create_task(self._keep_greenhouse_fresh(self.greenhouse_sync)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.tokens.flush()
            if self.close_client:
                await self.client.aclose()

    async def _keep_greenhouse_fresh(self, sync: GreenhouseSync) -> None:
        """Incremental syncs, so changes made in Greenhouse directly reach the lookups."""
        while True:
            try:
                report = await sync.run()
                log.info("sync: %s users read, %s changes", report.users_seen, report.changes)
            except SyncBusyError as busy:
                log.debug("sync skipped: %s", busy)
            except Exception:  # the next run retries; the bridge keeps serving the mirror
                log.exception("sync failed")
            await asyncio.sleep(self.sync_interval)
