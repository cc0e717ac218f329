"""Connections made and managed through the status API, for platforms that onboard their
customers' Harvest accounts without a shell (docs/serve.md, "Managing connections"):

    POST   /api/v1/connections                  create from a token or an OAuth result (201)
    GET    /api/v1/connections                  list, with settings, pause and last sync
    PATCH  /api/v1/connections/{name}           change its settings (connection_settings)
    POST   /api/v1/connections/{name}/pause     stop its background syncs ({"reason": ...})
    POST   /api/v1/connections/{name}/resume    start them again
    DELETE /api/v1/connections/{name}           drop the credential, stop syncing, keep the
                                                mirror; ``?purge=true`` deletes the mirror too

A credential is checked against Harvest before anything is saved, with the calls ``thresher
login`` makes (``reachable_accounts``, ``token_owner``), and sealed like its credentials
(``SecretBox``). No answer and no log line carries a secret. Settings go through the same checks
as ``thresher connections config`` (``ConnectionSettingsStore.update``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from thresher.connections import (
    ConnectionNameError,
    Credentials,
    SecretBox,
    check_connection_name,
    reachable_accounts,
    token_owner,
)
from thresher.harvest import Account, CredentialsError, HarvestError, HarvestSettings, User
from thresher.store import (
    ConnectionSettings,
    ConnectionSettingsStore,
    DuplicateConnectionError,
    InvalidArgumentError,
    StoredConnection,
    UnknownConnectionError,
)

from ._context import ServiceContext
from ._status import connection_status

__all__ = ["MAX_BODY", "connection_routes"]

log = logging.getLogger("thresher.serve")
Handler = Callable[[Request], Awaitable[Response]]

#: A connection's JSON is a few hundred bytes: anything much larger is refused before it is read.
MAX_BODY = 64 * 1024
#: The pause reason of a connection deleted without ``purge``: it stays (with its mirror) but has
#: no credential, so nothing may sync it.
DELETED_REASON = "deleted through the API: no credential; the mirror and change history are kept"
_SETTINGS = ("interval_s", "reconcile_s", "teammates", "scim_delete_mode", "paused", "paused_reason")
_CREATE = {
    "name", "provider", "access_token", "account_id", "refresh_token", "expires_at", "expires_in",
    "client_id", "client_secret", "scope",
}


class _Refused(Exception):
    """A request this module answers with an error (status, message, hint) and nothing saved."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


def _error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    # The same shape as every /api/v1 error (_api.py).
    body: dict[str, Any] = {"error": message}
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, read no further than ``MAX_BODY`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _Refused(413, f"the request body is larger than {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _Refused(413, f"the request body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip() and optional:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _Refused(400, "the request body is not JSON", "Send a JSON object.") from None
    if not isinstance(data, dict):
        raise _Refused(400, "the request body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _Refused(400, f"{key} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Refused(400, f"{key} must be a non-empty string")
    return value.strip()


def _whole(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _Refused(400, f"{key} must be a positive whole number")
    return value


def _expiry(data: dict[str, Any]) -> dt.datetime | None:
    if data.get("expires_at") is not None and data.get("expires_in") is not None:
        raise _Refused(400, "give expires_at or expires_in, not both")
    if data.get("expires_in") is not None:
        seconds = data["expires_in"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise _Refused(400, "expires_in must be a positive number of seconds")
        return _now() + dt.timedelta(seconds=float(seconds))
    text = _text(data, "expires_at")
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _Refused(400, "expires_at must be an ISO 8601 time", "e.g. 2026-12-31T12:00:00Z") from None
    if when.tzinfo is None:
        raise _Refused(400, "expires_at needs a time zone", "e.g. 2026-12-31T12:00:00Z")
    return when


def _settings_changes(data: dict[str, Any]) -> dict[str, Any]:
    """The settings a PATCH names, type-checked here (the store checks the values)."""
    unknown = sorted(set(data) - set(_SETTINGS))
    if unknown:
        raise _Refused(400, f"unknown setting(s): {', '.join(unknown)}",
                       f"Settings are: {', '.join(_SETTINGS)}.")
    for key in ("interval_s", "reconcile_s"):
        value = data.get(key)
        if key in data and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _Refused(400, f"{key} must be a number of seconds, not {value!r}")
    for key in ("teammates", "paused_reason"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise _Refused(400, f"{key} must be a string")
    if "teammates" in data and data["teammates"] is None:
        raise _Refused(400, "teammates must be one of changed, all, off")
    if data.get("scim_delete_mode") is not None and not isinstance(data["scim_delete_mode"], str):
        raise _Refused(400, "scim_delete_mode must be archive, delete or null")
    if "paused" in data and not isinstance(data["paused"], bool):
        raise _Refused(400, "paused must be true or false")
    if data.get("paused") is True and not data.get("paused_reason"):
        return {**data, "paused_reason": "paused through the API"}
    return dict(data)


def _describe(connection: StoredConnection, settings: ConnectionSettings,
              status: dict[str, Any] | None = None) -> dict[str, Any]:
    """A connection as the API shows it: never its credentials, only whether it has some."""
    data = {k: v for k, v in connection.as_dict().items() if k != "credentials_ref"}
    data["credentials"] = "saved" if connection.credentials_ref else "none"
    data["paused"] = (
        {"reason": settings.paused_reason, "at": settings.as_dict()["paused_at"]}
        if settings.paused else None
    )
    data["settings"] = settings.as_dict()
    if status is not None:
        data["last_sync"] = status.get("last_sync")
        data["health"] = status.get("health")
    return data


def connection_routes(service: ServiceContext, guarded: Callable[[Handler], Handler]) -> list[BaseRoute]:
    """The routes above, each behind ``guarded`` (the admin bearer token check of ``_api``)."""
    store = service.store
    configs = ConnectionSettingsStore(store)

    def refusing(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except _Refused as refused:
                return _error(refused.status, refused.message, refused.hint)

        return guarded(run)

    def lookup(name: str) -> StoredConnection:
        found = store.get_connection_or_none(name)
        if found is None:
            raise _Refused(404, f"no connection named {name!r}", "GET /api/v1/connections lists them.")
        return found

    async def create(request: Request) -> Response:
        data = await _body(request)
        unknown = sorted(set(data) - _CREATE)
        if unknown:
            raise _Refused(400, f"unknown field(s): {', '.join(unknown)}",
                           "A token: name, access_token, account_id; an OAuth result adds "
                           "refresh_token and expires_at or expires_in.")
        provider = data.get("provider", "harvest")
        if provider != "harvest":
            raise _Refused(400, f"provider {provider!r} cannot be created through the API",
                           "Only Harvest connections; use 'thresher login --provider greenhouse'.")
        raw = data.get("name")
        try:
            name = check_connection_name(raw if isinstance(raw, str) else "")
        except ConnectionNameError as exc:
            raise _Refused(400, str(exc), exc.hint) from None
        credentials = _credentials(data)
        account_id = _whole(data, "account_id")
        existing = await asyncio.to_thread(store.get_connection_or_none, name)
        if existing is not None and existing.credentials_ref is not None:
            raise _Refused(409, f"a connection named {name!r} exists already",
                           "Pick another name, or DELETE it first (it is never overwritten).")
        account, owner = await _check(credentials, account_id)
        credentials = Credentials(
            kind=credentials.kind, access_token=credentials.access_token,
            user_agent=credentials.user_agent, refresh_token=credentials.refresh_token,
            expires_at=credentials.expires_at, client_id=credentials.client_id,
            client_secret=credentials.client_secret, user_id=owner.id, scope=credentials.scope,
        )
        saved, reattached = await asyncio.to_thread(_save, name, account, credentials)
        settings = await asyncio.to_thread(configs.get, saved.id)
        log.info("connection %s created through the API (account %d, %s)", name, account.id,
                 credentials.kind)
        body = {
            **_describe(saved, settings),
            "account": {"id": account.id, "name": account.name},
            "user": {"id": owner.id, "email": owner.email,
                     "administrator": "administrator" in owner.access_roles},
            "auth": credentials.kind,
            "reattached": reattached,
        }
        return JSONResponse(body, status_code=200 if reattached else 201,
                            headers={"Location": f"/api/v1/connections/{name}"})

    def _credentials(data: dict[str, Any]) -> Credentials:
        token = _text(data, "access_token", required=True) or ""
        refresh = _text(data, "refresh_token")
        oauth = service.settings.oauth
        user_agent = oauth.user_agent
        if refresh is None:
            for key in ("expires_at", "expires_in", "client_id", "client_secret", "scope"):
                if data.get(key) is not None:
                    raise _Refused(400, f"{key} belongs to an OAuth result, which needs refresh_token")
            return Credentials("pat", token, user_agent)
        client_id = _text(data, "client_id") or oauth.client_id
        client_secret = _text(data, "client_secret") or oauth.client_secret
        if not (client_id and client_secret):
            raise _Refused(400, "an OAuth result needs the OAuth app's client_id and client_secret",
                           "Send them, or set [oauth] client_id and client_secret in thresher.toml, "
                           "so the token can be refreshed.")
        return Credentials("oauth", token, user_agent, refresh_token=refresh, expires_at=_expiry(data),
                           client_id=client_id, client_secret=client_secret, scope=_text(data, "scope"))

    async def _check(credentials: Credentials, account_id: int | None) -> tuple[Account, User]:
        """The account the token is for and whose token it is, asked of Harvest as ``thresher
        login`` does; refused with the reason when Harvest says no."""
        oauth = service.settings.oauth
        settings = HarvestSettings(access_token=credentials.access_token, user_agent=oauth.user_agent,
                                   base_url=oauth.api_url, id_url=oauth.id_url)
        transport = service.oauth_transport
        try:
            accounts = [a for a in await reachable_accounts(settings, transport=transport)
                        if a.product == "harvest"]
            if account_id is None:
                if len(accounts) != 1:
                    raise _Refused(400, f"this token reaches {len(accounts)} Harvest accounts",
                                   "Send account_id: " + _accounts(accounts))
                chosen = accounts[0]
            else:
                found = next((a for a in accounts if a.id == account_id), None)
                if found is None:
                    raise _Refused(422, f"this token cannot reach Harvest account {account_id}",
                                   "Accounts it reaches: " + _accounts(accounts))
                chosen = found
            owner = await token_owner(settings.replace(account_id=chosen.id), transport=transport)
        except CredentialsError as exc:
            # The message is the client's (secrets redacted); the token itself is never echoed.
            log.info("a connection's token was refused by Harvest: %s", exc)
            raise _Refused(422, "Harvest refused this access token",
                           "Send a current token: a personal access token from "
                           "https://id.getharvest.com/developers, or a fresh OAuth result.") from None
        except HarvestError as exc:
            log.warning("could not check a connection's token with Harvest: %s", exc)
            raise _Refused(502, f"could not check the token with Harvest: {exc}",
                           "Try again; nothing was saved.") from None
        return chosen, owner

    def _save(name: str, account: Account, credentials: Credentials) -> tuple[StoredConnection, bool]:
        """Add the connection (never replacing one that has a credential), or give a deleted one
        of the same account its credential back; the connection, and whether it was re-attached."""
        oauth = service.settings.oauth
        blob = SecretBox.from_env().seal(credentials)
        existing = store.get_connection_or_none(name)
        if existing is None:
            try:
                return store.add_connection(
                    name, account.id, label=account.name, base_url=oauth.api_url, id_url=oauth.id_url,
                    credentials_ref=blob,
                ), False
            except DuplicateConnectionError:
                raise _Refused(409, f"a connection named {name!r} exists already",
                               "Pick another name (it is never overwritten).") from None
        if existing.credentials_ref is not None or existing.provider != "harvest":
            raise _Refused(409, f"a connection named {name!r} exists already",
                           "Pick another name, or DELETE it first (it is never overwritten).")
        if existing.account_id != account.id:
            raise _Refused(409, f"a connection named {name!r} exists for another account "
                           f"({existing.account_id})",
                           f"Pick another name, or DELETE /api/v1/connections/{name}?purge=true.")
        connection = store.update_connection(
            name, label=account.name, base_url=oauth.api_url, id_url=oauth.id_url, credentials_ref=blob
        )
        if configs.get(connection.id).paused_reason == DELETED_REASON:
            configs.resume(connection.id, now=_now())
        return connection, True

    async def listing(request: Request) -> Response:
        def read() -> list[dict[str, Any]]:
            statuses = {s["name"]: s for s in connection_status(store, service.scheduler)}
            every = configs.all()
            return [
                _describe(c, every.get(c.id) or ConnectionSettings(c.id), statuses.get(c.name))
                for c in store.list_connections()
            ]

        return JSONResponse({"connections": await asyncio.to_thread(read)})

    async def _configure(name: str, changes: dict[str, Any]) -> Response:
        def write() -> dict[str, Any]:
            connection = lookup(name)
            try:
                settings = configs.update(connection.id, now=_now(), **changes)
            except InvalidArgumentError as exc:
                raise _Refused(400, str(exc), "See GET /api/v1/connections for the current settings.") \
                    from None
            return _describe(connection, settings)

        return JSONResponse(await asyncio.to_thread(write))

    def _resumable(name: str) -> None:
        if lookup(name).credentials_ref is None and name != "env":
            raise _Refused(409, f"connection {name!r} has no credential to sync with",
                           "POST /api/v1/connections with its name and a token gives it one.")

    async def patch(request: Request) -> Response:
        name = request.path_params["name"]
        changes = _settings_changes(await _body(request))
        if changes.get("paused") is False:
            await asyncio.to_thread(_resumable, name)
        return await _configure(name, changes)

    async def pause(request: Request) -> Response:
        reason = _text(await _body(request, optional=True), "reason") or "paused through the API"
        return await _configure(request.path_params["name"], {"paused": True, "paused_reason": reason})

    async def resume(request: Request) -> Response:
        name = request.path_params["name"]
        await asyncio.to_thread(_resumable, name)
        return await _configure(name, {"paused": False})

    async def delete(request: Request) -> Response:
        name = request.path_params["name"]
        purge = request.query_params.get("purge", "false").lower()
        if purge not in ("true", "false"):
            raise _Refused(400, "purge must be true or false")

        def remove() -> dict[str, Any]:
            connection = lookup(name)
            if purge == "true":
                try:
                    store.remove_connection(name)
                except UnknownConnectionError:
                    raise _Refused(404, f"no connection named {name!r}") from None
                log.info("connection %s deleted through the API with its mirror", name)
                return {"connection": name, "deleted": True, "purged": True}
            # Stop first: a worker that reads the schedule between the two sees a paused
            # connection rather than one it cannot authenticate.
            configs.pause(connection.id, DELETED_REASON, now=_now())
            store.update_connection(name, credentials_ref=None)
            log.info("connection %s deleted through the API; its mirror is kept", name)
            return {"connection": name, "deleted": True, "purged": False,
                    "kept": "the mirror and change history (DELETE ...?purge=true removes them)"}

        return JSONResponse(await asyncio.to_thread(remove))

    return [
        Route("/api/v1/connections", refusing(create), methods=["POST"]),
        Route("/api/v1/connections", refusing(listing), methods=["GET"]),
        Route("/api/v1/connections/{name}", refusing(patch), methods=["PATCH"]),
        Route("/api/v1/connections/{name}", refusing(delete), methods=["DELETE"]),
        Route("/api/v1/connections/{name}/pause", refusing(pause), methods=["POST"]),
        Route("/api/v1/connections/{name}/resume", refusing(resume), methods=["POST"]),
    ]


def _accounts(accounts: list[Account]) -> str:
    return (", ".join(f"{a.id} ({a.name})" for a in accounts) or "none") + "."

