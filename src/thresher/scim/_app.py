"""The SCIM 2.0 bridge as an ASGI app: scim2-server's protocol core, thresher's storage and auth.

    bridge = ScimBridge(WriteThrough(client, store, connection), TokenStore(store))
    uvicorn.run(bridge.app, host="127.0.0.1", port=8080)      # serves /scim/v2/...

Defining the app is separate from running it (docs/architecture.md): ``thresher scim serve`` and the tests
build the same :class:`ScimBridge`; the tests drive ``bridge.app`` in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

from scim2_models import ForbiddenException, Resource, UnauthorizedException
from scim2_server.applications.asgi import ASGIApplication, Receive, Scope, Send
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from starlette.applications import Starlette
from starlette.routing import Mount

from thresher._origin import set_origin
from thresher.provision import WriteThrough
from thresher.sync import RosterSync, SyncBusyError

from ._group_reads import BridgeHandler, GroupResponse
from ._models import ScimGroup, ScimUser, build_provider
from ._service import BridgeService
from ._storage import DeleteMode, HarvestStorage
from ._tokens import ScimToken, TokenStore

__all__ = ["BridgeRequest", "ScimBridge"]

log = logging.getLogger("thresher.scim")
_READS = frozenset({"GET", "HEAD"})


def _is_read(request: ScimRequest) -> bool:
    """GET and HEAD, and ``POST .../.search``: a query sent in a body (RFC 7644 §3.4.3), which a
    read-only token may make like any other lookup."""
    method = request.method.upper()
    if method in _READS:
        return True
    return method == "POST" and request.path.rstrip("/").endswith("/.search")


@dataclasses.dataclass
class BridgeRequest(ScimRequest):
    """A SCIM request with who sent it: the client address, and the token once checked."""

    client: str | None = None
    token: ScimToken | None = dataclasses.field(default=None, repr=False)


class _BridgeApplication(ASGIApplication):
    def __init__(self, storage: HarvestStorage, bridge: ScimBridge) -> None:
        super().__init__(storage, bridge.provider, BridgeService(bridge.provider))
        self.handler = BridgeHandler(self.service, storage)  # reads a group without a model per member
        self.tokens = bridge.tokens
        self.log = log

    async def read_request(self, scope: Scope, receive: Receive) -> ScimRequest:
        request = await super().read_request(scope, receive)
        client = scope.get("client")
        fields = {f.name: getattr(request, f.name) for f in dataclasses.fields(ScimRequest)}
        return BridgeRequest(**fields, client=client[0] if client else None)

    def check_auth(self, request: ScimRequest) -> None:
        scheme, _, value = (request.header("Authorization") or "").partition(" ")
        token = self.tokens.authenticate(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise UnauthorizedException(detail="a valid bearer token is required")
        assert isinstance(request, BridgeRequest)
        request.token = token
        if not token.allows(request.client):
            raise ForbiddenException(detail="this token may not be used from this address")
        if token.read_only and not _is_read(request):
            raise ForbiddenException(detail="this token is read-only")

    @staticmethod
    async def send_response(response: ScimResponse, send: Send) -> None:
        if not isinstance(response, GroupResponse):
            await ASGIApplication.send_response(response, send)
            return
        headers = [(name.encode(), value.encode()) for name, value in response.headers.items()]
        await send({"type": "http.response.start", "status": int(response.status), "headers": headers})
        await send({"type": "http.response.body", "body": response.encoded_body()})

    async def serve(self, request: ScimRequest) -> ScimResponse:
        set_origin("scim")  # this request's writes reach webhooks as source "scim" (thresher._origin)
        response = await super().serve(request)
        token = request.token if isinstance(request, BridgeRequest) else None
        if token is not None:
            self.tokens.count(token.id, int(response.status))
        return response


def _resource_model(model: object, default: type[Resource[Any]]) -> type[Resource[Any]]:
    if isinstance(model, type) and issubclass(model, Resource):
        return model
    return default


class ScimBridge:
    """The bridge for one Harvest connection, mounted at ``/scim/v2``.

    ``sync``: run incremental syncs every ``sync_interval`` seconds while serving.
    ``close_client``: close the Harvest client when the server shuts down (it owns it).
    """

    def __init__(
        self,
        writer: WriteThrough,
        tokens: TokenStore,
        *,
        delete_mode: DeleteMode = DeleteMode.archive,
        sync: RosterSync | None = None,
        sync_interval: float = 60.0,
        flush_interval: float = 5.0,
        user_model: type[Resource[Any]] = ScimUser,
        close_client: bool = False,
    ) -> None:
        self.writer = writer
        self.tokens = tokens
        self.sync = sync
        self.sync_interval = sync_interval
        self.flush_interval = flush_interval
        self.close_client = close_client
        self.provider = build_provider(user_model)
        self.storage = HarvestStorage(
            writer,
            _resource_model(self.provider.model_for("User"), user_model),
            _resource_model(self.provider.model_for("Group"), ScimGroup),
            delete_mode=delete_mode,
        )
        self.scim = _BridgeApplication(self.storage, self)
        mount = Mount("/scim", app=self.scim)  # type: ignore[arg-type]
        self.app = Starlette(routes=[mount], lifespan=self._lifespan)

    def lifespan(self, app: object = None) -> contextlib.AbstractAsyncContextManager[None]:
        """The bridge's background work (fresh lookups, token counters, closing the client):
        pass it as ``lifespan=bridge.lifespan`` to the app the bridge is mounted in, since
        Starlette gives mounted apps no lifespan events of their own."""
        return self._lifespan(self.app)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self._flush_counts())]
        if self.sync is not None:
            tasks.append(asyncio.create_task(self._keep_fresh(self.sync)))
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
                await self.writer.client.aclose()

    async def _flush_counts(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                self.tokens.flush()
            except Exception:  # a busy database must not stop the bridge; the next flush retries
                log.exception("could not save the SCIM request counts")

    async def _keep_fresh(self, sync: RosterSync) -> None:
        """Incremental syncs, so changes made in Harvest directly reach the lookups."""
        while True:
            try:
                report = await sync.run()
                log.info("sync: %s users read, %s changes", report.users_seen, report.changes)
            except SyncBusyError as busy:
                # Another process (`thresher sync --watch`, cron) keeps the mirror fresh right now.
                log.debug("sync skipped: %s", busy)
            except Exception:  # the next run retries; the bridge keeps serving the mirror
                log.exception("sync failed")
            await asyncio.sleep(self.sync_interval)
