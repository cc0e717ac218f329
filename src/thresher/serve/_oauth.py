"""The "connect a Harvest account" page: the OAuth2 authorization-code flow (§5.2 of
docs/harvest-api.md) run by the service, for platforms that onboard their customers' accounts.

The state travels in an HttpOnly cookie (with the name the admin chose) and is compared in
constant time on the way back; the code is exchanged at Harvest ID, the account is one the grant
names among those Harvest ID says the token reaches (as ``thresher login --oauth`` picks it), and
the connection is saved with its credentials sealed (``SecretBox``, like ``thresher login``) and
the token owner's id. Names are refused before Harvest ID is asked: ``env`` (the connection the
``HARVEST_*`` variables form, connections/_resolve.py), and the name of an existing connection
unless the admin ticked "replace" (then only a sign-in to the same account replaces its
credentials). Syncs of the new connection start at the scheduler's next look.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import urllib.parse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from thresher._errors import ThresherError
from thresher.connections import (
    ENV_CONNECTION,
    Credentials,
    reachable_accounts,
    save_connection,
    token_owner,
)
from thresher.harvest import HarvestSettings, OAuthApp
from thresher.store import StoredConnection

from ._context import ServiceContext

__all__ = ["ConnectFlow"]

COOKIE = "thresher_connect"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _back(**params: str) -> RedirectResponse:
    return RedirectResponse("/connect?" + urllib.parse.urlencode(params), status_code=303)


class ConnectFlow:
    def __init__(self, service: ServiceContext) -> None:
        self.service = service
        self.settings = service.settings.oauth

    @property
    def configured(self) -> bool:
        return bool(self.settings.client_id and self.settings.client_secret)

    def _app(self) -> OAuthApp:
        assert self.settings.client_id
        assert self.settings.client_secret
        return OAuthApp(self.settings.client_id, self.settings.client_secret, self.settings.id_url,
                        self.settings.user_agent, transport=self.service.oauth_transport)

    def _redirect_uri(self, request: Request) -> str:
        return self.settings.redirect_url or str(request.url_for("connect_callback"))

    async def start(self, request: Request, name: str, *, replace: bool = False) -> Response:
        if not self.configured:
            return _back(error="No OAuth app is configured: set [oauth] client_id and client_secret.")
        if not _NAME.match(name):
            return _back(error="Name the connection with letters, digits, dots, dashes or underscores.")
        existing = await asyncio.to_thread(self.service.store.get_connection_or_none, name)
        refused = _refusal(name, existing, replace=replace)
        if refused is not None:
            return _back(error=refused)
        state = secrets.token_urlsafe(24)
        url = self._app().authorization_url(state, self._redirect_uri(request))
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(COOKIE, f"{state}:{'replace' if replace else 'new'}:{name}", httponly=True,
                            samesite="lax", max_age=900, secure=request.url.scheme == "https",
                            path="/connect")
        return response

    async def finish(self, request: Request) -> Response:
        q = request.query_params
        state, _, rest = request.cookies.get(COOKIE, "").partition(":")
        mode, _, name = rest.partition(":")
        if not state or not hmac.compare_digest(state, q.get("state", "")):
            return _back(error="This sign-in link does not belong to a connection started here.")
        if q.get("error"):
            return _back(error=f"Harvest ID said: {q.get('error_description') or q['error']}")
        code = q.get("code")
        if not code:
            return _back(error="Harvest ID sent no authorization code.")
        try:
            saved = await self._save(name, code, q.get("scope"), replace=mode == "replace")
        except ThresherError as exc:
            return _back(error=str(exc))
        if saved is not None:
            return _back(error=saved)
        response = _back(done=name)
        response.delete_cookie(COOKIE, path="/connect")
        return response

    async def _save(
        self, name: str, code: str, granted_scope: str | None, *, replace: bool
    ) -> str | None:
        """Exchange the code, pick the account, save the connection; None, or what went wrong.

        The token endpoint's answer need not name the account (§5.2: the scope comes back on the
        redirect), so the accounts are asked of Harvest ID, as ``thresher login --oauth`` does,
        preferring one the grant names."""
        token = await self._app().exchange_code(code)
        transport = self.service.oauth_transport
        settings = HarvestSettings(
            access_token=token.access_token, user_agent=self.settings.user_agent,
            base_url=self.settings.api_url, id_url=self.settings.id_url,
        )
        accounts = [a for a in await reachable_accounts(settings, transport=transport)
                    if a.product == "harvest"]
        granted = set(token.harvest_account_ids) | set(_scope_accounts(granted_scope))
        chosen = next((a for a in accounts if a.id in granted), accounts[0] if accounts else None)
        if chosen is None:
            return "The token reaches no Harvest account: sign in as a user of the account to connect."
        existing = await asyncio.to_thread(self.service.store.get_connection_or_none, name)
        # Again: the connection may have been added (or the env one recorded) since the start.
        refused = _refusal(name, existing, replace=replace)
        if refused is not None:
            return refused
        if existing is not None and existing.account_id != chosen.id:
            return (f"A connection named {name} exists already for another account "
                    f"({existing.account_id}); pick another name.")
        settings = settings.replace(account_id=chosen.id)
        owner = await token_owner(settings, transport=transport)
        creds = Credentials(
            kind="oauth", access_token=token.access_token, user_agent=self.settings.user_agent,
            refresh_token=token.refresh_token, expires_at=token.expires_at,
            client_id=self.settings.client_id, client_secret=self.settings.client_secret,
            scope=token.scope or granted_scope, user_id=owner.id,
        )
        await asyncio.to_thread(save_connection, self.service.store, name, settings, creds,
                                label=chosen.name)
        return None


def _refusal(name: str, existing: StoredConnection | None, *, replace: bool) -> str | None:
    """Why ``name`` may not be saved now, or None."""
    if name == ENV_CONNECTION:
        return (f"{ENV_CONNECTION} is the name of the connection the HARVEST_* variables form; "
                "pick another name.")
    if existing is None:
        return None
    if existing.provider != "harvest":
        return f"A connection named {name} exists already for another product; pick another name."
    if not replace:
        return (f"A connection named {name} exists already (account {existing.account_id}): tick "
                "\"Replace its credentials\" to sign it in again, or pick another name.")
    return None


def _scope_accounts(scope: str | None) -> list[int]:
    """Account ids of a ``harvest:{id}`` scope (``+`` or space separated, §5.2)."""
    ids = []
    for part in (scope or "").replace(" ", "+").split("+"):
        product, _, ident = part.partition(":")
        if product == "harvest" and ident.isdigit():
            ids.append(int(ident))
    return ids
