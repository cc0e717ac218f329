"""The dashboard: server-rendered pages (Jinja2), a little plain JavaScript, no build step.

Every page needs a signed-in admin (a session cookie, or a trusted reverse proxy's header when
configured); every POST carries the session's CSRF token, checked before anything happens. The
pages show names, counts and times, never a token or a credential.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import ipaddress
import json
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from thresher.store import EVENT_KINDS, StoredAdmin

from ._auth import csrf_token
from ._context import ServiceContext
from ._oauth import ConnectFlow
from ._observe import peer_host
from ._status import connection_status
from ._views import roster_view, usage_view
from ._webhooks import webhook_tables

__all__ = ["SESSION_COOKIE", "routes"]

SESSION_COOKIE = "thresher_session"
LOGIN_COOKIE = "thresher_login"
TEMPLATES = Path(__file__).parent / "templates"
Page = Callable[[Request, StoredAdmin, str], Awaitable[Response]]

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)


def _ago(value: str | dt.datetime | None) -> str:
    if value is None:
        return "never"
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    seconds = (dt.datetime.now(dt.UTC) - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    text = (f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200
            else f"{seconds / 3600:.0f} h" if seconds < 172800 else f"{seconds / 86400:.0f} days")
    return f"in {text}" if future else f"{text} ago"


_env.filters["ago"] = _ago


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    })


def _secure(request: Request, service: ServiceContext) -> bool:
    mode = service.settings.dashboard.secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def _trusted(request: Request, proxies: list[str]) -> bool:
    # The peer that connected, not the client a forwarded header names (_observe.KeepPeer).
    host = peer_host(request.scope) or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(p, strict=False) for p in proxies)


def routes(service: ServiceContext) -> list[BaseRoute]:
    auth = service.auth
    settings = service.settings.dashboard
    # CSRF for proxy-header sign-ins (no session cookie): keyed by a secret of this process.
    proxy_secret = secrets.token_hex(32)
    flow = ConnectFlow(service)

    async def current(request: Request) -> tuple[StoredAdmin | None, str | None]:
        if settings.admin_header and _trusted(request, settings.trusted_proxies):
            name = request.headers.get(settings.admin_header)
            if name:
                admin = StoredAdmin(0, name, "", dt.datetime.now(dt.UTC), None, None)
                return admin, hmac.new(proxy_secret.encode(), name.encode(), "sha256").hexdigest()
        value = request.cookies.get(SESSION_COOKIE)
        found = await asyncio.to_thread(auth.session_admin, value) if value else None
        return (found, value) if found else (None, None)

    def page(handler: Page, *, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            admin, session = await current(request)
            if admin is None or session is None:
                if post or request.url.path.endswith("/stream"):
                    return PlainTextResponse("Sign in first.", status_code=401)
                target = urllib.parse.quote(request.url.path)
                return RedirectResponse(f"/login?next={target}", status_code=303)
            csrf = csrf_token(session)
            if post:
                form = await request.form()
                presented = form.get("csrf")
                if not isinstance(presented, str) or not hmac.compare_digest(csrf, presented):
                    return PlainTextResponse(
                        "This form has expired or did not come from the dashboard (CSRF check "
                        "failed). Reload the page and try again.", status_code=403)
            return await handler(request, admin, csrf)

        return wrapped

    def ctx(admin: StoredAdmin, csrf: str, active: str, **extra: Any) -> dict[str, Any]:
        return {"admin": admin.username, "csrf": csrf, "active": active, **extra}

    # -- sign in -----------------------------------------------------------------------------

    async def login_form(request: Request) -> Response:
        nonce = secrets.token_urlsafe(24)
        response = render("login.html", csrf=nonce, error=None,
                          next=request.query_params.get("next", "/"))
        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict",
                            secure=_secure(request, service), max_age=1800)
        return response

    async def login(request: Request) -> Response:
        form = await request.form()
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        presented = form.get("csrf")
        if not nonce or not isinstance(presented, str) or not hmac.compare_digest(nonce, presented):
            return PlainTextResponse("The sign-in form expired (CSRF check failed). Reload it.", 403)
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        admin = await asyncio.to_thread(auth.verify, username, password)
        target = str(form.get("next") or "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if admin is None:
            return render("login.html", status=401, csrf=nonce, next=target,
                              error="Wrong username or password.")
        value = await asyncio.to_thread(auth.open_session, admin)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE, value, httponly=True, samesite="lax", secure=_secure(request, service),
            max_age=int(auth.session_lifetime.total_seconds()),
        )
        response.delete_cookie(LOGIN_COOKIE)
        return response

    async def logout(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        await asyncio.to_thread(auth.end_session, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # -- pages -------------------------------------------------------------------------------

    async def connections(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        statuses = await asyncio.to_thread(connection_status, service.store, service.scheduler)
        return render("connections.html", **ctx(admin, csrf, "connections", connections=statuses,
                                                 flash=request.query_params.get("flash")))

    async def sync_now(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        name = request.path_params["name"]
        connection = await asyncio.to_thread(service.store.get_connection_or_none, name)
        if connection is None:
            return PlainTextResponse(f"No connection named {name!r}.", status_code=404)
        await asyncio.to_thread(service.scheduler.sync_now, connection)
        flash = urllib.parse.quote(f"Sync of {name} is due now.")
        return RedirectResponse(f"/?flash={flash}", status_code=303)

    async def roster(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        data = await asyncio.to_thread(roster_view, service.store)
        return render("roster.html", **ctx(admin, csrf, "roster", connections=data))

    async def changes(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        q = request.query_params
        kind = q.get("kind") if q.get("kind") in EVENT_KINDS else None
        conn_name = q.get("connection") or None

        def read() -> list[dict[str, Any]]:
            connection = service.store.get_connection_or_none(conn_name) if conn_name else None
            events = service.store.list_events(
                connection.id if connection else None, kind=kind, limit=50, newest_first=True
            )
            return [service.feed.describe(e) for e in events]

        events = await asyncio.to_thread(read)
        names = [c.name for c in await asyncio.to_thread(service.store.list_connections)]
        return render("changes.html", **ctx(admin, csrf, "changes", events=events, kinds=EVENT_KINDS,
                                             kind=kind, connection=conn_name, names=names))

    async def stream(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        kind = request.query_params.get("kind") or None
        conn_name = request.query_params.get("connection") or None
        queue = service.feed.subscribe()

        async def events() -> AsyncIterator[str]:
            try:
                yield "retry: 3000\n\n"
                idle = 0.0
                while not service.stop.is_set():
                    try:
                        data = await asyncio.wait_for(queue.get(), 1.0)
                    except TimeoutError:
                        idle += 1.0
                        if idle >= 15:
                            idle = 0.0
                            yield ": keep-alive\n\n"
                        continue
                    if (kind and data["kind"] != kind) or (conn_name and data["connection"] != conn_name):
                        continue
                    yield f"id: {data['id']}\nevent: change\ndata: {json.dumps(data)}\n\n"
            finally:
                service.feed.unsubscribe(queue)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def usage(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        data = await asyncio.to_thread(usage_view, service.records, service.store)
        return render("usage.html", **ctx(admin, csrf, "usage", usage=data))

    async def webhooks(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        tables = await asyncio.to_thread(webhook_tables, service.store)
        return render("webhooks.html", **ctx(admin, csrf, "webhooks",
                                              tables=tables.tables if tables else None))

    async def connect(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        return render("connect.html", **ctx(admin, csrf, "connect", configured=flow.configured,
                                             error=request.query_params.get("error"),
                                             done=request.query_params.get("done")))

    async def connect_start(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        form = await request.form()
        return await flow.start(request, str(form.get("name", "")).strip(),
                                replace=form.get("replace") == "yes")

    async def connect_callback(request: Request, admin: StoredAdmin, csrf: str) -> Response:
        return await flow.finish(request)

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", page(logout, post=True), methods=["POST"]),
        Route("/", page(connections), methods=["GET"]),
        Route("/connections/{name}/sync", page(sync_now, post=True), methods=["POST"]),
        Route("/roster", page(roster), methods=["GET"]),
        Route("/changes", page(changes), methods=["GET"]),
        Route("/changes/stream", page(stream), methods=["GET"]),
        Route("/usage", page(usage), methods=["GET"]),
        Route("/webhooks", page(webhooks), methods=["GET"]),
        Route("/connect", page(connect), methods=["GET"]),
        Route("/connect", page(connect_start, post=True), methods=["POST"]),
        Route("/connect/callback", page(connect_callback), methods=["GET"], name="connect_callback"),
    ]
