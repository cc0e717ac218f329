"""The identity service (id.getharvest.com), docs/harvest-api.md §5, on the sandbox's port.

* ``GET /api/v2/accounts``: the token's user and the accounts it reaches (a Harvest and a Forecast
  account for a personal access token; only the granted ones for an OAuth token).
* ``GET /oauth2/authorize``: auto-approves as the administrator (or as ``sandbox_user_id``, a
  sandbox extension) and redirects to the redirect URI, which must start with the registered
  one, with ``code``, ``scope`` (``harvest:{account_id}``) and ``state``; ``response_type=token``
  (implicit flow) redirects with the token in the fragment (or the query, configurable [U]).
* ``POST /api/v2/oauth2/token``: ``authorization_code`` and ``refresh_token`` grants, form or JSON
  fields, client credentials in the body or HTTP Basic. Access tokens expire after
  ``token_ttl_seconds`` on the sandbox clock; codes are single use; a refresh returns a new refresh
  token and the one used stays valid (§5.2, §10; ``rotate_refresh_tokens`` makes them single
  use), while the previous access token lives on until it expires. Bad, used or expired
  grants answer Rack::OAuth2's ``invalid_grant`` (400).

``/api/v1/accounts`` and ``/api/v1/oauth2/token`` answer too (§5.2: legacy aliases still in use [U]).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ._host import SandboxHost
from ._http import ApiError, invalid_token, json_response, parse_body
from ._records import AccessToken, AuthorizationCode, RefreshToken, User

__all__ = ["identity_routes"]

INVALID_GRANT = (
    "The provided access grant is invalid, expired, or revoked (e.g. invalid assertion, expired "
    "authorization token, bad end-user password credentials, or mismatching authorization code "
    "and redirection URI)."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, or "
    "unsupported authentication method."
)


def _oauth_error(error: str, description: str, status: int = 400) -> ApiError:
    return ApiError(json_response({"error": error, "error_description": description}, status,
                                  {"Cache-Control": "no-store"}))


def identity_routes(sandbox: SandboxHost) -> list[Route]:
    service = _Identity(sandbox)
    return [
        Route("/api/v2/accounts", service.accounts, methods=["GET"]),
        Route("/oauth2/authorize", service.authorize, methods=["GET"]),
        Route("/api/v2/oauth2/token", service.token, methods=["POST"]),
        # §5.2 [U]: public code still calls the v1 paths; probably legacy aliases.
        Route("/api/v1/accounts", service.accounts, methods=["GET"]),
        Route("/api/v1/oauth2/token", service.token, methods=["POST"]),
    ]


class _Identity:
    def __init__(self, sandbox: SandboxHost) -> None:
        self.sandbox = sandbox

    def _bearer_user(self, request: Request) -> tuple[User, AccessToken]:
        state = self.sandbox.state
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        text = value.strip() if scheme.lower() == "bearer" else request.query_params.get("access_token")
        entry = state.access_tokens.get(text or "")
        if entry is None or (entry.expires_at is not None and entry.expires_at <= self.sandbox.clock.now()):
            raise invalid_token()
        user = state.users.get(entry.user_id)
        if user is None or not user.is_active:
            raise invalid_token()
        return user, entry

    async def accounts(self, request: Request) -> Response:
        """``GET /api/v2/accounts`` (§5.3), without ``Harvest-Account-Id``."""
        try:
            with self.sandbox.lock:
                user, entry = self._bearer_user(request)
                state = self.sandbox.state
                scopes = set(entry.scope.split("+"))
                accounts = [
                    {"id": account_id, "name": state.company.name, "product": product}
                    for account_id, product in (
                        (state.account_id, "harvest"), (state.forecast_account_id, "forecast")
                    )
                    if scopes & {"all", f"{product}:all", f"{product}:{account_id}"}
                ]
                return json_response({
                    "user": {"id": user.id, "first_name": user.first_name, "last_name": user.last_name,
                             "email": user.email},
                    "accounts": accounts,
                })
        except ApiError as exc:
            return exc.response

    def _approver(self, request: Request) -> User | None:
        """Who approves: ``sandbox_user_id`` when given, else the oldest active administrator
        (the account owner, whose personal access token is ``admin_token``)."""
        state = self.sandbox.state
        raw = request.query_params.get("sandbox_user_id")
        if raw is not None:
            user = state.users.get(int(raw)) if raw.isdigit() else None
            return user if user is not None and user.is_active else None
        admins = (state.users[uid] for uid in state.user_ids)
        return next((u for u in admins if u.is_active and u.access_roles[0] == "administrator"), None)

    async def authorize(self, request: Request) -> Response:
        """``GET /oauth2/authorize?client_id=...&response_type=code&state=...`` (§5.2 step 1)."""
        creds, params = self.sandbox.credentials, request.query_params
        if params.get("client_id") != creds.oauth_client_id:
            return json_response({"error": "invalid_client", "error_description": "Unknown client_id"}, 400)
        redirect = params.get("redirect_uri") or creds.oauth_redirect_uri
        if not redirect.startswith(creds.oauth_redirect_uri):
            return json_response({
                "error": "invalid_request",
                "error_description": "redirect_uri must start with the client's registered redirect URL",
            }, 400)
        with self.sandbox.lock:
            state, clock, config = self.sandbox.state, self.sandbox.clock, self.sandbox.config
            scope = f"harvest:{state.account_id}"
            answer: dict[str, Any] = {}
            response_type = params.get("response_type")
            user = self._approver(request)
            if user is None:
                answer = {"error": "access_denied", "error_description": "No such active sandbox user"}
            elif response_type == "code":
                code = secrets.token_urlsafe(32)
                state.authorization_codes[code] = AuthorizationCode(
                    code, user.id, creds.oauth_client_id, params.get("redirect_uri"), scope,
                    clock.now() + config.authorization_code_ttl_seconds,
                )
                answer = {"code": code, "scope": scope}
            elif response_type == "token":
                access = self._issue_access(user.id, scope)
                answer = {"access_token": access.token, "token_type": "bearer",
                          "expires_in": config.token_ttl_seconds, "scope": scope}
            else:
                answer = {"error": "unsupported_response_type",
                          "error_description": "response_type must be code or token"}
            if "state" in params:
                answer["state"] = params["state"]
            self.sandbox.mark_changed()
        if response_type == "token" and "error" not in answer and not config.implicit_grant_in_query:
            return RedirectResponse(f"{redirect}#{urlencode(answer)}", status_code=302)
        glue = "&" if "?" in redirect else "?"
        return RedirectResponse(f"{redirect}{glue}{urlencode(answer)}", status_code=302)

    def _issue_access(self, user_id: int, scope: str) -> AccessToken:
        state, config = self.sandbox.state, self.sandbox.config
        token = f"{state.account_id}.at.{secrets.token_urlsafe(45)}"
        expires = self.sandbox.clock.now() + config.token_ttl_seconds
        entry = AccessToken(token, user_id, "oauth", scope, expires)
        state.access_tokens[token] = entry
        return entry

    def _client(self, request: Request, body: dict[str, Any]) -> None:
        creds = self.sandbox.credentials
        client_id, secret = body.get("client_id"), body.get("client_secret")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = secret = None
        if client_id != creds.oauth_client_id or secret is None or not secrets.compare_digest(
            str(secret).encode(), creds.oauth_client_secret.encode()
        ):
            raise _oauth_error("invalid_client", INVALID_CLIENT, 401)

    async def token(self, request: Request) -> Response:
        """``POST /api/v2/oauth2/token`` (§5.2 steps 3 and 4)."""
        try:
            body = parse_body(request.headers.get("content-type", ""), await request.body())
            with self.sandbox.lock:
                self._client(request, body)
                grant = body.get("grant_type")
                if grant == "authorization_code":
                    user_id, scope = self._redeem_code(body)
                elif grant == "refresh_token":
                    user_id, scope = self._redeem_refresh(body)
                else:
                    raise _oauth_error("unsupported_grant_type",
                                       "grant_type must be authorization_code or refresh_token")
                access = self._issue_access(user_id, scope)
                refresh = f"{self.sandbox.state.account_id}.rt.{secrets.token_urlsafe(45)}"
                ttl = self.sandbox.config.refresh_token_ttl_seconds
                self.sandbox.state.refresh_tokens[refresh] = RefreshToken(
                    refresh, user_id, self.sandbox.credentials.oauth_client_id, scope,
                    None if ttl is None else self.sandbox.clock.now() + ttl,
                )
                self.sandbox.mark_changed()
                return json_response({
                    "access_token": access.token,
                    "refresh_token": refresh,
                    "token_type": "bearer",
                    "expires_in": self.sandbox.config.token_ttl_seconds,
                }, headers={"Cache-Control": "no-store"})
        except ApiError as exc:
            return exc.response

    def _redeem_code(self, body: dict[str, Any]) -> tuple[int, str]:
        state = self.sandbox.state
        code = state.authorization_codes.pop(str(body.get("code") or ""), None)  # single use
        if (
            code is None
            or code.expires_at <= self.sandbox.clock.now()
            or (code.redirect_uri is not None and body.get("redirect_uri") not in (None, code.redirect_uri))
            or code.user_id not in state.users
        ):
            raise _oauth_error("invalid_grant", INVALID_GRANT)
        return code.user_id, code.scope

    def _redeem_refresh(self, body: dict[str, Any]) -> tuple[int, str]:
        state = self.sandbox.state
        text = str(body.get("refresh_token") or "")
        # §5.2 and §10: a used refresh token stays valid (production connectors reuse theirs);
        # rotate_refresh_tokens makes it single use.
        entry = state.refresh_tokens.pop(text, None) if self.sandbox.config.rotate_refresh_tokens \
            else state.refresh_tokens.get(text)
        if (
            entry is None
            or (entry.expires_at is not None and entry.expires_at <= self.sandbox.clock.now())
            or entry.user_id not in state.users
        ):
            raise _oauth_error("invalid_grant", INVALID_GRANT)
        return entry.user_id, entry.scope
