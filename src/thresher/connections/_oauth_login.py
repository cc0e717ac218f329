"""OAuth2 authorization-code login with a one-shot redirect listener on 127.0.0.1 (§5.2).

The listener accepts exactly one callback whose ``state`` matches the one sent (a forged or stale
redirect is answered 400 and ignored), then the code is exchanged at the token endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import secrets
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit, urlunsplit

from thresher.harvest import OAuth2Token, OAuthApp

from ._errors import OAuthLoginError

__all__ = ["oauth_login"]

_LOOPBACK = {"127.0.0.1", "localhost"}


class _Listener(http.server.HTTPServer):
    expected_path: str
    expected_state: str
    code: str | None = None
    failure: str | None = None
    done: threading.Event
    #: Called (from the listener's thread) once the redirect arrived.
    on_done: Callable[[], None] = staticmethod(lambda: None)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Listener

    def log_message(self, format: str, *args: object) -> None:
        return  # the query carries the code: keep it out of every log

    def _answer(self, status: int, text: str) -> None:
        body = f"<html><body><p>{text}</p></body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.expected_path:
            self._answer(404, "Not found.")
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if not secrets.compare_digest(query.get("state", ""), self.server.expected_state):
            self._answer(400, "This sign-in link does not belong to the running login.")
            return
        if "error" in query:
            self.server.failure = query.get("error_description") or query["error"]
            self._answer(400, "Harvest did not authorize thresher. You can close this window.")
        elif query.get("code"):
            self.server.code = query["code"]
            self._answer(200, "thresher is signed in. You can close this window.")
        else:
            self._answer(400, "The redirect carried no authorization code.")
            return
        self.server.done.set()
        self.server.on_done()


def _listener(redirect_uri: str) -> tuple[_Listener, str]:
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK:
        raise OAuthLoginError(
            f"the redirect URI {redirect_uri!r} is not on this machine",
            hint="Register http://127.0.0.1:PORT/... as the app's redirect URL and pass it with "
            "--redirect-uri.",
        )
    # Port 0 asks the system for a free port; only a URL without a port means 80.
    server = _Listener(("127.0.0.1", 80 if parts.port is None else parts.port), _Handler)
    server.expected_path = parts.path or "/"
    server.done = threading.Event()
    port = server.server_address[1]
    netloc = f"{parts.hostname}:{port}"
    return server, urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def oauth_login(
    app: OAuthApp,
    redirect_uri: str,
    open_url: Callable[[str], None],
    *,
    wait_seconds: float = 300.0,
) -> OAuth2Token:
    """Send the user to Harvest ID, wait for the redirect to ``redirect_uri`` (port 0 picks a
    free one), check ``state`` and exchange the code for tokens."""
    try:
        server, redirect = _listener(redirect_uri)
    except OSError as exc:
        raise OAuthLoginError(
            f"cannot listen for the OAuth redirect on {redirect_uri}: {exc.strerror}",
            hint="Stop what uses that port, or register and pass another --redirect-uri.",
        ) from None
    server.expected_state = secrets.token_urlsafe(24)
    server.timeout = 0.2
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    # Awaited on the loop, not in a worker thread: Ctrl-C cancels this task at once, where a
    # thread blocked in Event.wait would hold the process's exit for minutes.
    arrived = asyncio.Event()
    loop = asyncio.get_running_loop()

    def notify() -> None:
        loop.call_soon_threadsafe(arrived.set)

    server.on_done = notify
    try:
        open_url(app.authorization_url(server.expected_state, redirect))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), wait_seconds)
        finished = server.done.is_set()
    finally:
        server.shutdown()
        server.server_close()
    if not finished:
        raise OAuthLoginError(
            f"no OAuth redirect arrived within {wait_seconds:.0f} s",
            hint="Open the printed URL in a browser and approve thresher, then try again.",
        )
    if server.code is None:
        raise OAuthLoginError(
            f"Harvest ID refused the authorization: {server.failure}",
            hint="Check the client id and the app's redirect URL, then log in again.",
        )
    return await app.exchange_code(server.code)
