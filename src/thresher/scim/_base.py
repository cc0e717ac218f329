"""What the SCIM bridge is for any provider: the storage's hold on the mirror, and the app around it.

``MirrorStorage`` is the state every storage's reads use (the store, the connection, its SCIM-only
records, the two store-work lanes of ``_offload``, the resource models); ``BridgeBase`` is the app
(``/scim`` mount, SCIM 404s, bearer tokens and their counters, the lifespan that flushes them and
closes the client). Harvest's ``HarvestStorage``/``ScimBridge`` and Greenhouse's
``GreenhouseStorage``/``GreenhouseScimBridge`` (docs/greenhouse.md §6) both construct through
these ``__init__``s, so an attribute added here reaches both; an attribute a Harvest class adds
in its own ``__init__`` is Harvest's alone (tests/scim/test_provider_base.py checks that every
attribute Harvest's storage has, except its write-through, is one the Greenhouse storage has).

This module imports nothing of either provider, and ``_app`` (scim2-server's application) is
given to ``BridgeBase`` by each subclass through ``_application``: no import cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from scim2_models import NotFoundException, Resource, ScimProvider
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.storage import AsyncScimStorage
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import Mount

from thresher.store import Store, StoredConnection

from ._local import LocalRecords
from ._offload import StoreWork
from ._tokens import TokenStore

__all__ = ["BridgeBase", "MirrorStorage"]

log = logging.getLogger("thresher.scim")


class MirrorStorage(AsyncScimStorage):
    """One connection's users (and groups, where the provider has them) as the mirror holds them.

    Provider-neutral: a subclass adds how its writes reach the provider."""

    def __init__(
        self,
        store: Store,
        connection: StoredConnection,
        user_model: type[Resource[Any]],
        group_model: type[Resource[Any]],
    ) -> None:
        self.store = store
        self.connection = connection
        self.connection_id = connection.id
        self.local = LocalRecords(store, connection.id)
        self.user_model = user_model
        self.group_model = group_model
        #: Every store step of a request runs here, off the event loop (``_offload``).
        self.work = StoreWork(self.store)

    def complete_pending(self) -> int:
        """Complete the writes the provider accepted whose record the store could not save;
        returns how many. None by default: a storage that records each write before its answer
        leaves nothing pending."""
        return 0


class BridgeBase:
    """The bridge for one connection, mounted at ``/scim/v2``, whatever the provider.

    A subclass builds its storage and provider, calls ``super().__init__`` with them, and says
    through the hooks below what runs while serving (``_background``, ``_start``/``_stop``) and
    how its client is closed (``_close_client``, when ``close_client``)."""

    def __init__(
        self,
        storage: MirrorStorage,
        provider: ScimProvider,
        tokens: TokenStore,
        *,
        flush_interval: float = 5.0,
        close_client: bool = False,
    ) -> None:
        self.storage = storage
        self.provider = provider
        self.tokens = tokens
        self.flush_interval = flush_interval
        self.close_client = close_client
        self.work = storage.work
        self.scim = self._application()
        mount = Mount("/scim", app=self.scim)  # type: ignore[arg-type]
        self.app = Starlette(
            routes=[mount], lifespan=self._lifespan, exception_handlers={404: self._not_found}
        )

    # -- what a provider says -----------------------------------------------------------

    def _application(self) -> ASGIApplication:
        """The SCIM application mounted at ``/scim`` (``_app._BridgeApplication``)."""
        raise NotImplementedError

    async def check_rate_wait(self) -> None:
        """Refuse a create (429) that would wait too long for the provider's rate budget. Nothing
        by default: a provider whose client has no forecast of its wait paces itself."""

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        """Tasks to run while serving (cancelled at shutdown), besides the token counters."""
        return []

    async def _start(self) -> None:
        """Called once the background tasks are started, before the first request."""

    async def _stop(self) -> None:
        """Called at shutdown, after the background tasks are cancelled."""

    async def _close_client(self) -> None:
        """Close the provider's client (with ``close_client``)."""

    # -- the app --------------------------------------------------------------------------

    async def _not_found(self, request: StarletteRequest, exc: Exception) -> Response:
        """A path outside ``/scim/`` (a control character in its first segments, say) gets a
        SCIM 404 like any unknown SCIM path, not Starlette's plain-text one."""
        error = self.scim.service.error_response(NotFoundException(detail="no SCIM endpoint at this path"))
        return Response(json.dumps(error.body), int(error.status), media_type="application/scim+json")

    def lifespan(self, app: object = None) -> contextlib.AbstractAsyncContextManager[None]:
        """The bridge's background work (token counters, the provider's own, closing the client):
        pass it as ``lifespan=bridge.lifespan`` to the app the bridge is mounted in, since
        Starlette gives mounted apps no lifespan events of their own."""
        return self._lifespan(self.app)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self._flush_counts())]
        tasks.extend(asyncio.create_task(work) for work in self._background())
        try:
            await self._start()
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._stop()
            await self.work.write(self.tokens.flush)
            if self.close_client:
                await self._close_client()

    async def _flush_counts(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.work.write(self.tokens.flush)
            except Exception:  # a busy database must not stop the bridge; the next flush retries
                log.exception("could not save the SCIM request counts")
