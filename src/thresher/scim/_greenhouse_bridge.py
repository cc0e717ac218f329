"""The SCIM bridge for a Greenhouse Recruiting connection: ``BridgeBase``'s app, tokens, auth and
counters (as Harvest's ``ScimBridge``), over ``GreenhouseStorage`` and ``greenhouse_provider()``
(Users only; docs/greenhouse.md §6).

    bridge = GreenhouseScimBridge(open_greenhouse(store, "gh"), store, connection, TokenStore(store))
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from thresher.greenhouse import AsyncGreenhouse
from thresher.store import Store, StoredConnection
from thresher.sync import GreenhouseSync, SyncBusyError

from ._app import _BridgeApplication, _resource_model
from ._base import BridgeBase, log
from ._greenhouse_storage import GreenhouseScimUser, GreenhouseStorage, greenhouse_provider
from ._tokens import TokenStore

__all__ = ["GreenhouseScimBridge"]


class GreenhouseScimBridge(BridgeBase):
    """The bridge for one Greenhouse connection, mounted at ``/scim/v2``: the app, tokens, auth
    and counters are ``BridgeBase``'s (``_base``), as for Harvest's ``ScimBridge``.

    ``sync``: incremental Greenhouse syncs every ``sync_interval`` seconds while serving.
    ``close_client``: close the Greenhouse client when the server shuts down (it owns it)."""

    storage: GreenhouseStorage

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
        self.greenhouse_sync = sync
        self.sync_interval = sync_interval
        provider = greenhouse_provider()
        # The provider's User model carries the enterprise extension: reads and writes use it.
        user_model = _resource_model(provider.model_for("User"), GreenhouseScimUser)
        storage = GreenhouseStorage(client, store, connection, user_model, user_model)
        super().__init__(storage, provider, tokens, flush_interval=flush_interval, close_client=close_client)

    def _application(self) -> _BridgeApplication:
        return _BridgeApplication(self.storage, self)

    # check_rate_wait is BridgeBase's (nothing): Greenhouse's client paces itself by the windows
    # its answers announce and has no forecast of its wait (docs/greenhouse.md).

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        if self.greenhouse_sync is None:
            return []
        return [self._keep_greenhouse_fresh(self.greenhouse_sync)]

    async def _close_client(self) -> None:
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
