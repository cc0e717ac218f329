"""The legacy v1 People API under ``/v1`` (docs/migrating-from-v1.md), on the sandbox's port.

v1 lived on ``https://ACCOUNT.harvestapp.com`` without a version in its paths; the sandbox holds
one account, so ``/v1`` stands for that host: an old script whose base URL was
``https://ACCOUNT.harvestapp.com`` is pointed at ``http://127.0.0.1:PORT/v1``.

==========================================  =====================================================
``GET /v1/people``                          every user (``?updated_since=2015-04-25+18%3A30``)
``GET /v1/people/{id or email}``            one user
``POST /v1/people``                         201 + ``Location``; an invitation in the outbox
``PUT /v1/people/{id or email}``            200 + ``Location``
``DELETE /v1/people/{id or email}``         200; 400 while the user has time or expenses
``POST /v1/people/{id or email}/toggle``    archive or re-activate; 400 over the seat limit
==========================================  =====================================================

Authentication is v1's HTTP Basic: the user's email and, as the password, one of the user's
access tokens (a personal access token from the credentials or ``POST /sandbox/tokens``); a bearer
token (header or ``access_token`` query) works too, as v1's OAuth did, without an account header.
Only administrators manage people; anyone may read their own record. Errors are v1's: the status
and a ``Hint`` header (``_v1_format.V1Error``); over the rate limit, 503 with ``Retry-After``
(v1 throttled with 503, docs/harvest-api.md §4), counted in the same budget as v2.

Both APIs share one state: every write goes through the v2 handlers of ``_users.py`` (the same
validation, invitations, seat checks and ``updated_at`` stamps), with v1's flags mapped to
``access_roles``; only what v2 has no field for (``telephone`` on create, ``department``, a rate
change on update) is applied here.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._clock import format_date, parse_ts
from ._host import SandboxHost
from ._http import JSON, ApiError, Call, Form, Handler
from ._ratelimit import RateLimiter
from ._records import AccessToken, User
from ._section import is_admin, is_manager
from ._users import UsersApi
from ._v1_format import XML, V1Error, parse_v1_body, people_response, person_response, wants_json

__all__ = ["V1_PREFIX", "V1PeopleApi"]

V1_PREFIX = "/v1"
_MUTATING = frozenset({"POST", "PUT", "DELETE", "PATCH"})
#: What v1 clients expect on a failed Basic login (Rails' default realm).
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="Application"'}
#: The request-log record ``_app.py`` puts in the scope under this key.
_LOG_KEY = "thresher.sandbox"
#: v1 fields v2 takes as they are.
_SHARED = (
    "first_name",
    "last_name",
    "email",
    "timezone",
    "is_contractor",
    "is_active",
    "has_access_to_all_future_projects",
)
_NOT_FOUND = "No person with that id or email address"
_ADMINS_ONLY = "Only administrators can list or change people"


class V1Host(SandboxHost, Protocol):
    """What the v1 API needs beyond the handlers' view: the account's rate limiter."""

    @property
    def limiter(self) -> RateLimiter | None: ...


class _LogInfo(Protocol):
    user_id: int | None
    token_kind: str | None


class _V1Call:
    """One authenticated v1 request: the body's user fields (underscored keys) and the format."""

    __slots__ = ("actor", "as_json", "body", "request", "token")

    def __init__(
        self, request: Request, body: dict[str, Any], actor: User, token: AccessToken, as_json: bool
    ) -> None:
        self.request, self.body, self.actor, self.token, self.as_json = request, body, actor, token, as_json


_V1Handler = Callable[[_V1Call], Response]


def _access_roles(admin: bool | None, manager: bool | None, user: User | None) -> list[str]:
    """v1's flags as v2 ``access_roles`` (docs/migrating-from-v1.md): ``is-admin`` wins,
    ``is-project-manager`` is the manager base role (a manager keeps their add-ons), neither is a
    member. An omitted flag keeps the user's current value."""
    was_admin = user is not None and is_admin(user)
    was_manager = user is not None and is_manager(user)
    if was_admin if admin is None else admin:
        return ["administrator"]
    if was_manager if manager is None else manager:
        return list(user.access_roles) if user is not None and was_manager else ["manager"]
    return ["member"]


class V1PeopleApi:
    def __init__(self, sandbox: V1Host) -> None:
        self.sandbox = sandbox
        self._users = UsersApi(sandbox)

    def routes(self) -> list[Route]:
        people, person = f"{V1_PREFIX}/people", f"{V1_PREFIX}/people/{{person}}"
        table: list[tuple[str, str, _V1Handler]] = [
            (people, "GET", self.list_people),
            (people, "POST", self.create_person),
            (person, "GET", self.get_person),
            (person, "PUT", self.update_person),
            (person, "DELETE", self.delete_person),
            (f"{person}/toggle", "POST", self.toggle_person),
        ]
        return [
            Route(path, self._endpoint(handler), methods=[method], name=f"v1 {method} {path}")
            for path, method, handler in table
        ]

    # -- request path ------------------------------------------------------------------------------
    def _endpoint(self, handler: _V1Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            as_json = wants_json(request.headers.get("accept", ""))
            mutating = request.method in _MUTATING
            raw = await request.body() if mutating else b""
            sandbox = self.sandbox
            try:
                with sandbox.lock:
                    actor, token = self._authenticate(request)
                    info: _LogInfo | None = request.scope.get(_LOG_KEY)
                    if info is not None:
                        info.user_id, info.token_kind = actor.id, token.kind
                    self._limit(token)
                    body = parse_v1_body(request.headers.get("content-type", ""), raw)
                    response = handler(_V1Call(request, body, actor, token, as_json))
                    if mutating:
                        sandbox.mark_changed()
            except V1Error as exc:
                response = exc.response(as_json)
            return response

        endpoint.__doc__ = handler.__doc__
        return endpoint

    def _authenticate(self, request: Request) -> tuple[User, AccessToken]:
        """Basic ``email:token``, or a bearer token; archived users cannot sign in."""
        state = self.sandbox.state
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token: AccessToken | None = None
        if scheme.lower() == "basic":
            token = self._basic(value.strip())
        elif scheme.lower() == "bearer":
            token = state.access_tokens.get(value.strip())
        elif not scheme and "access_token" in request.query_params:
            token = state.access_tokens.get(request.query_params["access_token"])
        if token is None or (token.expires_at is not None and token.expires_at <= self.sandbox.clock.now()):
            raise V1Error(
                401, "Sign in with your email address and an access token as the password", _CHALLENGE
            )
        if not {"all", "harvest:all", f"harvest:{state.account_id}"} & set(token.scope.split("+")):
            raise V1Error(401, "That OAuth token is for another account", _CHALLENGE)
        user = state.users.get(token.user_id)
        if user is None or not user.is_active:
            raise V1Error(401, "That user is archived or deleted and cannot sign in", _CHALLENGE)
        return user, token

    def _basic(self, value: str) -> AccessToken | None:
        try:
            email, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            return None
        user = self.sandbox.state.user_by_email(email) if sep else None
        if user is None:
            return None
        given = password.encode()
        for token in self.sandbox.state.access_tokens.values():
            if token.user_id == user.id and hmac.compare_digest(token.token.encode(), given):
                return token
        return None

    def _limit(self, token: AccessToken) -> None:
        sandbox = self.sandbox
        limiter = sandbox.limiter
        if limiter is None:
            return
        key = token.token if sandbox.config.rate_limit_scope == "token" else str(sandbox.state.account_id)
        wait = limiter.hit(key)
        if wait is not None:
            retry = RateLimiter.retry_after(wait)
            raise V1Error(
                503, f"Throttled: over the account's rate limit; retry in {retry} s", {"Retry-After": retry}
            )

    def _person(self, call: _V1Call) -> User:
        """The path's user, by id or email address (v1 accepts either wherever an id goes)."""
        state = self.sandbox.state
        raw: str = call.request.path_params["person"]
        user = None
        if raw.isascii() and raw.isdigit() and len(raw) <= 19:
            user = state.users.get(int(raw))
        elif "@" in raw:
            user = state.user_by_email(raw)
        if user is None:
            raise V1Error(404, _NOT_FOUND)
        return user

    @staticmethod
    def _require_admin(call: _V1Call) -> None:
        # v1 answered actions a user could not see in the UI with 404 (docs/harvest-api.md §2).
        if not is_admin(call.actor):
            raise V1Error(404, _ADMINS_ONLY)

    def _v2(self, handler: Handler, call: _V1Call, user: User | None, body: dict[str, Any]) -> Response:
        """Run a v2 users handler on ``body``; its refusals become v1's (a 422 is a 400)."""
        request = call.request
        if user is not None:
            request = Request(dict(request.scope, path_params={"user_id": str(user.id)}))
        try:
            return handler(Call(request, request.query_params, body, call.actor, call.token))
        except ApiError as exc:
            status = exc.response.status_code
            if status in (403, 404):
                raise V1Error(404, _NOT_FOUND) from None
            try:
                message = orjson.loads(exc.response.body)["message"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                message = "The request was refused"
            raise V1Error(400 if status == 422 else status, str(message)) from None

    def _written(self, call: _V1Call, status: int, user: User) -> Response:
        """v1 answered writes with a status and ``Location: /people/{id}``, and no body."""
        media = JSON if call.as_json else XML
        return Response(b"", status, {"Location": f"{V1_PREFIX}/people/{user.id}"}, media_type=media)

    @staticmethod
    def _v1_fields(form: Form) -> tuple[bool | None, bool | None, str | None, str | None]:
        admin, manager = form.boolean("is_admin"), form.boolean("is_project_manager")
        return admin, manager, form.text("telephone"), form.text("department")

    @staticmethod
    def _check(form: Form) -> None:
        if form.errors:
            raise V1Error(400, ", ".join(form.errors))

    # -- handlers ----------------------------------------------------------------------------------
    def list_people(self, call: _V1Call) -> Response:
        """``GET /people``: administrators; oldest first; ``updated_since`` in UTC
        (``2015-04-25 18:30``, or ISO 8601)."""
        self._require_admin(call)
        state = self.sandbox.state
        users = (state.users[uid] for uid in state.user_ids)
        raw = call.request.query_params.get("updated_since", "").strip()
        if raw:
            try:
                since = parse_ts(raw)
            except (ValueError, OverflowError):
                raise V1Error(
                    400, "updated_since must be a UTC date and time such as 2015-04-25 18:30"
                ) from None
            users = (u for u in users if u.updated_at >= since)
        return people_response(state, users, call.as_json)

    def get_person(self, call: _V1Call) -> Response:
        """``GET /people/{id or email}``: administrators, or the user themself."""
        user = self._person(call)
        if not (is_admin(call.actor) or call.actor.id == user.id):
            raise V1Error(404, _NOT_FOUND)
        return person_response(self.sandbox.state, user, call.as_json)

    def create_person(self, call: _V1Call) -> Response:
        """``POST /people``: 201 and ``Location``; the invitation goes to the outbox (§8.1)."""
        self._require_admin(call)
        form = Form(call.body)
        admin, manager, telephone, department = self._v1_fields(form)
        self._check(form)
        body = {
            key: call.body[key] for key in (*_SHARED, "default_hourly_rate", "cost_rate") if key in call.body
        }
        body["access_roles"] = _access_roles(admin, manager, None)
        created = self._v2(self._users.create_user, call, None, body)
        state = self.sandbox.state
        user = state.users[orjson.loads(created.body)["id"]]
        if telephone or department:
            user.telephone, user.department = telephone or "", department or ""
            # Part of the create, not a change after it: the cached JSON goes, updated_at stays.
            state.user_json.pop(user.id, None)
        return self._written(call, 201, user)

    def update_person(self, call: _V1Call) -> Response:
        """``PUT /people/{id or email}``: the given fields change; ``password`` is ignored, as v1
        did. A rate sent here starts today (v1: the rate for new projects)."""
        self._require_admin(call)
        user = self._person(call)
        form = Form(call.body)
        admin, manager, telephone, department = self._v1_fields(form)
        hourly = form.number("default_hourly_rate", minimum=0)
        cost = form.number("cost_rate", minimum=0)
        self._check(form)
        body = {key: call.body[key] for key in _SHARED if key in call.body}
        roles = _access_roles(admin, manager, user)
        if roles != user.access_roles:
            body["access_roles"] = roles
        self._v2(self._users.update_user, call, user, body)
        state = self.sandbox.state
        today = format_date(self.sandbox.clock.now())
        if hourly is not None and hourly != user.default_hourly_rate:
            state.add_rate("billable", user, hourly, today)
        if cost is not None and cost != user.cost_rate:
            state.add_rate("cost", user, cost, today)
        changed = False
        for field, value in (("telephone", telephone), ("department", department)):
            if form.has(field) and (value or "") != getattr(user, field):
                setattr(user, field, value or "")
                changed = True
        if changed:
            state.touch_user(user)
        return self._written(call, 200, user)

    def delete_person(self, call: _V1Call) -> Response:
        """``DELETE /people/{id or email}``: 200, or 400 while the user has time or expenses."""
        self._require_admin(call)
        user = self._person(call)
        try:
            self._v2(self._users.delete_user, call, user, {})
        except V1Error as exc:
            if exc.status == 400:
                exc.message += f" Archive them instead: POST {V1_PREFIX}/people/{user.id}/toggle."
            raise
        media = JSON if call.as_json else XML
        return Response(b"", 200, media_type=media)

    def toggle_person(self, call: _V1Call) -> Response:
        """``POST /people/{id or email}/toggle``: archive an active user, re-activate an archived
        one (400 when that would pass the seat limit, §8.4)."""
        self._require_admin(call)
        user = self._person(call)
        self._v2(self._users.update_user, call, user, {"is_active": not user.is_active})
        return self._written(call, 200, user)
