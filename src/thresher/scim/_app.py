"""The SCIM 2.0 bridge as an ASGI app: scim2-server's protocol core, thresher's storage and auth.

    bridge = ScimBridge(WriteThrough(client, store, connection), TokenStore(store))
    uvicorn.run(bridge.app, host="127.0.0.1", port=8080)      # serves /scim/v2/...

Defining the app is separate from running it (docs/architecture.md): ``thresher scim serve`` and the tests
build the same :class:`ScimBridge`; the tests drive ``bridge.app`` in-process.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from scim2_models import (
    ForbiddenException,
    InvalidValueException,
    Resource,
    SCIMException,
    UnauthorizedException,
)
from scim2_server.applications.asgi import ASGIApplication, Receive, Scope, Send
from scim2_server.applications.base import VERSION_PREFIX
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse

from thresher._origin import set_origin
from thresher.harvest import AsyncHarvest
from thresher.provision import WriteThrough
from thresher.store import DatabaseBusyError, DatabaseUnavailableError
from thresher.sync import SyncOptions

from ._base import BridgeBase
from ._errors import BusyError, UnavailableError, retry_after_of
from ._fresh import SyncThread
from ._group_reads import BridgeHandler, GroupResponse
from ._guards import OwnUserGuard
from ._limits import (
    base_url,
    check_body,
    check_resource_id,
    decode_query,
    is_creation,
    read_body,
    too_large,
)
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
    """A SCIM request with who sent it: the client address, and the token once checked.
    ``refusal``: what is wrong with it on the wire (``_limits``), answered before anything else."""

    client: str | None = None
    token: ScimToken | None = dataclasses.field(default=None, repr=False)
    refusal: SCIMException | None = dataclasses.field(default=None, repr=False)


class _BridgeApplication(ASGIApplication):
    handler: BridgeHandler

    def __init__(self, storage: HarvestStorage, bridge: BridgeBase) -> None:
        super().__init__(storage, bridge.provider, BridgeService(bridge.provider))
        self.handler = BridgeHandler(self.service, storage)  # reads a group without a model per member
        self.tokens = bridge.tokens
        self.bridge = bridge
        self.log = log

    async def read_request(self, scope: Scope, receive: Receive) -> ScimRequest:
        """scim2-server's reading, made safe for any input (``_limits``): what cannot be read
        becomes the request's ``refusal``, answered before the token is checked; a body over
        the limit is not read any further."""
        refusal: SCIMException | None = None
        query: dict[str, str] = {}
        try:
            root = base_url(scope, VERSION_PREFIX)
            query = decode_query(scope.get("query_string", b""))
        except SCIMException as exc:
            refusal, root = exc, VERSION_PREFIX
        client = scope.get("client")
        request = BridgeRequest(
            method=scope["method"],
            base_url=root,
            path=self.split_path(self.get_path(scope)),
            query=query,
            # Header values are octets (RFC 9110 §5.5): latin-1 reads any of them.
            headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]],
            client=client[0] if client else None,
            refusal=refusal,
        )
        if refusal is None:
            body = await read_body(scope["headers"], receive)
            if body is None:
                request.refusal = too_large()
            else:
                request.body = body
        return request

    async def dispatch_request(self, request: ScimRequest) -> ScimResponse:
        """scim2-server's dispatch, with the bridge's checks between the token and the
        storage: ids, the body's shape, and Harvest's rate budget for a create."""
        if self.needs_auth(request):
            await self.authenticate(request)
        check_resource_id(request.path)
        if request.body.strip():
            self.service.ensure_json(request.header("Content-Type"))
            check_body(request.body)
        if is_creation(request.method, request.path):
            await self.bridge.check_rate_wait()
        request.subject = self.get_subject(request)
        return await self.handler.handle(request)

    async def authenticate(self, request: ScimRequest) -> None:
        """scim2-server's ``check_auth``, with the token's row read as a quick read (``_offload``)."""
        scheme, _, value = (request.header("Authorization") or "").partition(" ")
        token = None
        if scheme.lower() == "bearer":
            token = await self.bridge.work.quick_read(self.tokens.authenticate, value.strip())
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

    def handle_exception(self, request: ScimRequest, exception: Exception) -> ScimResponse:
        if isinstance(exception, DatabaseBusyError | DatabaseUnavailableError):
            log.warning("the store could not answer: %s", exception)
            exception = UnavailableError(detail="thresher's database is busy or unreachable; retry later")
        elif isinstance(exception, UnicodeError):
            # Text that cannot be encoded reached the database or a header: the input's fault
            # (``_limits`` refuses the known forms before; this keeps any other one a 400).
            log.warning("a request carried text that is not valid Unicode (%s)", type(exception).__name__)
            exception = InvalidValueException(detail="a value in the request is not valid Unicode")
        response = super().handle_exception(request, exception)
        if int(response.status) in (429, 503):
            # RFC 7231 §7.1.3: when to come back; identity providers back off by it.
            response.headers["Retry-After"] = str(retry_after_of(exception))
        return response

    def finalize_response(self, request: ScimRequest, response: ScimResponse) -> ScimResponse:
        """``Location`` only on success, from the published resource (its canonical id under
        the checked base URL) or else the escaped request URL; never on an error, where it
        would echo whatever path the client sent."""
        if int(response.status) < 400:
            location = response.headers.get("Location") or response.headers.get("Content-Location")
            if location is None:
                location = f"{request.base_url.rstrip('/')}{quote('/' + request.path.strip('/'))}"
            response.headers["Location"] = location
        else:
            response.headers.pop("Location", None)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response

    async def serve(self, request: ScimRequest) -> ScimResponse:
        set_origin("scim")  # this request's writes reach webhooks as source "scim" (thresher._origin)
        refusal = request.refusal if isinstance(request, BridgeRequest) else None
        if refusal is not None:
            return self.finalize_response(request, self.handle_exception(request, refusal))
        response = await super().serve(request)
        token = request.token if isinstance(request, BridgeRequest) else None
        if token is not None:
            self.tokens.count(token.id, int(response.status))
        return response


def _resource_model(model: object, default: type[Resource[Any]]) -> type[Resource[Any]]:
    if isinstance(model, type) and issubclass(model, Resource):
        return model
    return default


class ScimBridge(BridgeBase):
    """The bridge for one Harvest connection, mounted at ``/scim/v2``.

    ``sync_client``: while serving, run incremental syncs every ``sync_interval`` seconds (with
    ``sync_options``) on a thread and event loop of their own (``_fresh``), with the Harvest
    client this makes, called in that thread (it is closed at shutdown). Store work always runs
    in worker threads (``_offload``): nothing a request waits for blocks the serving loop.
    ``close_client``: close the Harvest client when the server shuts down (it owns it).
    ``max_rate_wait``: a create that would wait longer than this for Harvest's rate budget
    answers 429 with ``Retry-After`` instead (identity providers give a request some tens of
    seconds; the retried create finds the user). ``own_user_id``: the Harvest user who owns the
    token (known from login), whom the bridge never deletes, deactivates or demotes; asked from
    Harvest when not given. The app, tokens and counters are ``BridgeBase``'s (``_base``).
    """

    storage: HarvestStorage
    scim: _BridgeApplication

    def __init__(
        self,
        writer: WriteThrough,
        tokens: TokenStore,
        *,
        delete_mode: DeleteMode = DeleteMode.archive,
        sync_client: Callable[[], AsyncHarvest] | None = None,
        sync_options: SyncOptions | None = None,
        sync_interval: float = 60.0,
        flush_interval: float = 5.0,
        user_model: type[Resource[Any]] = ScimUser,
        close_client: bool = False,
        max_rate_wait: float = 20.0,
        own_user_id: int | None = None,
    ) -> None:
        self.writer = writer
        self.sync_client = sync_client
        self.sync_options = sync_options
        self.sync_interval = sync_interval
        #: The running sync while serving with ``sync_client``.
        self.sync: SyncThread | None = None
        self.max_rate_wait = max_rate_wait
        self.guard = OwnUserGuard(writer.client, own_user_id)
        provider = build_provider(user_model)
        storage = HarvestStorage(
            writer,
            _resource_model(provider.model_for("User"), user_model),
            _resource_model(provider.model_for("Group"), ScimGroup),
            delete_mode=delete_mode,
            guard=self.guard,
        )
        super().__init__(storage, provider, tokens, flush_interval=flush_interval, close_client=close_client)

    def _application(self) -> _BridgeApplication:
        return _BridgeApplication(self.storage, self)

    async def check_rate_wait(self) -> None:
        """429 (``BusyError``) when a request sent now would wait longer than ``max_rate_wait``
        for Harvest's rate budget."""
        wait = await self.writer.client.rate_forecast.expected_wait()
        if wait > self.max_rate_wait:
            raise BusyError(
                detail=f"Harvest's rate budget is spoken for during the next {wait:.0f} s, longer "
                f"than the bridge keeps a request waiting ({self.max_rate_wait:g} s); retry later",
                retry_after=wait,
            )

    async def _learn_owner(self) -> None:
        try:
            await self.guard.prefetch()
        except SCIMException as exc:  # asked again by the first write that needs it
            log.warning("could not ask Harvest who owns the bridge's token: %s", exc)

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._learn_owner()]

    async def _start(self) -> None:
        if self.sync_client is not None:
            # Incremental syncs, so changes made in Harvest directly reach the lookups; then the
            # writes whose user the sync just mirrored are completed.
            self.sync = SyncThread(
                self.writer.store,
                self.writer.connection,
                self.sync_client,
                options=self.sync_options,
                interval=self.sync_interval,
                after_sync=self.storage.complete_pending,
            )
            self.sync.start()

    async def _stop(self) -> None:
        if self.sync is not None:
            await self.sync.stop()

    async def _close_client(self) -> None:
        await self.writer.client.aclose()
