"""The v3 user endpoints (docs/greenhouse.md §2-§3) as plain functions over ``SandboxCore``:
authentication, the rate window, scopes and the Site Admin rule, then the handlers; ``_app.py``
routes to them under the sandbox lock (``_token.py`` is the token endpoint).

Bodies the reference leaves open are listed in docs/greenhouse.md §5 (the [U] choices): the
401 wording for expired and revoked tokens, the 403 wording for a missing scope and for a ``sub``
that is not a Site Admin, and the 422 shape ``{"message": "Validation error", "errors": [...]}``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.responses import Response

from thresher.greenhouse import required_scope

from ._http import ApiError, answer, invalid, not_found, unauthorized
from ._sandbox import SandboxCore
from ._state import Credential, FuturePermission, JobPermission, User, token_key

__all__ = ["ApiCall", "authenticate", "handle_v3", "rate_headers"]

_OPS = {"gte": float.__ge__, "lte": float.__le__, "gt": float.__gt__, "lt": float.__lt__}
MAX_PER_PAGE = 500


# --- v3: authentication, rate limit, scope, Site Admin -------------------------------------------
@dataclasses.dataclass
class ApiCall:
    sandbox: SandboxCore
    method: str
    rest: str  # the path below /v3
    params: QueryParams
    body: dict[str, Any]
    actor: User
    credential: Credential
    origin: str
    ids: tuple[int, ...] = ()


def authenticate(sandbox: SandboxCore, authorization: str | None) -> tuple[User, Credential]:
    scheme, _, value = (authorization or "").partition(" ")
    token = sandbox.state.tokens.get(token_key(value.strip())) if scheme.lower() == "bearer" else None
    if token is None:
        raise unauthorized("Token could not be decoded. Please check that it is a valid JWT.")
    credential = sandbox.state.credentials[token.client_id]
    if credential.revoked:
        raise unauthorized("Token has been revoked")
    if token.expires_at <= sandbox.now():
        raise unauthorized("Token has expired")
    actor = sandbox.state.users.get(token.sub)
    if actor is None or actor.deactivated:
        raise unauthorized("The user this token acts as is deactivated")
    return actor, credential


def rate_headers(sandbox: SandboxCore, credential: Credential) -> dict[str, str]:
    """Count the request in its credential's window; raise 429 beyond the limit."""
    windows = sandbox.windows
    if windows is None:
        return {}
    allowed, remaining, reset, left = windows.hit(credential.client_id)
    headers = {
        "X-RateLimit-Limit": str(windows.limit),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(reset),
    }
    if not allowed:
        wait = max(1, math.ceil(left - 1e-9))
        raise ApiError(429, {"message": "Too Many Requests"}, {**headers, "Retry-After": str(wait)})
    return headers


Handler = Callable[[ApiCall], Response]


def handle_v3(call: ApiCall) -> Response:
    scope = required_scope(call.method, call.rest)
    route = _route(call.method, call.rest)
    if route is None or scope is None:
        raise not_found()
    handler, ids = route
    if scope not in call.credential.scopes:
        raise ApiError(403, {"message": "Forbidden", "errors": [f"Missing required scope: {scope}"]})
    if not call.actor.site_admin:
        if call.method == "GET" and call.sandbox.config.non_admin_lists == "empty":
            return answer([])
        raise ApiError(
            403,
            {"message": "Forbidden", "errors": ["The user this token acts as (sub) must be a Site Admin"]},
        )
    call.ids = ids
    return handler(call)


# --- lists and cursors ---------------------------------------------------------------------------
def _encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def _decode_cursor(text: str) -> dict[str, Any]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise invalid("cursor", "is invalid") from None
    if not isinstance(data, dict) or not isinstance(data.get("after"), int):
        raise invalid("cursor", "is invalid")
    return data


def _paginate(call: ApiCall, select: Callable[[dict[str, str]], Iterable[Any]]) -> Response:
    """Id descending, ``per_page`` 1..500 (default 100); a cursor request carries only ``cursor``."""
    params = dict(call.params)
    if "cursor" in params:
        if len(params) > 1:
            raise invalid("cursor", "cannot be combined with other parameters")
        data = _decode_cursor(params["cursor"])
        query, after = {str(k): str(v) for k, v in dict(data.get("q") or {}).items()}, data["after"]
    else:
        query, after = params, None
    text = query.pop("per_page", "100")
    if not text.isdigit() or not 1 <= int(text) <= MAX_PER_PAGE:
        raise invalid("per_page", f"must be between 1 and {MAX_PER_PAGE}")
    per_page = int(text)
    records = sorted(select(query), key=lambda r: r.id, reverse=True)
    if after is not None:
        records = [r for r in records if r.id < after]
    page = records[:per_page]
    headers: dict[str, str] = {}
    if len(records) > per_page:
        cursor = _encode_cursor({"after": page[-1].id, "q": {**query, "per_page": text}})
        headers["Link"] = f'<{call.origin}/v3{call.rest}?cursor={cursor}>; rel="next"'
    return answer([r.render() for r in page], headers=headers)


def _id_list(query: dict[str, str], key: str) -> set[int] | None:
    if key not in query:
        return None
    parts = [p.strip() for p in query[key].split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise invalid(key, "must be a comma-separated list of ids")
    return {int(p) for p in parts}


def _flag(query: dict[str, str], key: str) -> bool | None:
    value = query.get(key)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise invalid(key, "must be true or false")
    return value.lower() == "true"


def _time_filter(query: dict[str, str], key: str) -> Callable[[float], bool]:
    value = query.get(key)
    if value is None:
        return lambda _: True
    op, _, when = value.partition("|")
    try:
        limit = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid(key, "must be OPERATOR|ISO 8601 time, e.g. gte|2024-01-01T00:00:00Z") from None
    if op not in _OPS:
        raise invalid(key, "operator must be gte, lte, gt or lt")
    compare = _OPS[op]
    return lambda t: bool(compare(float(t), limit))


def _list_users(call: ApiCall) -> Response:
    def select(q: dict[str, str]) -> Iterable[User]:
        ids, employees = _id_list(q, "ids"), q.get("employee_ids")
        wanted_employees = {e.strip() for e in employees.split(",")} if employees else None
        offices, departments = _id_list(q, "office_ids"), _id_list(q, "department_ids")
        deactivated, services = _flag(q, "deactivated"), _flag(q, "show_service_accounts")
        email = (q.get("primary_email") or "").strip().lower() or None
        created, updated = _time_filter(q, "created_at"), _time_filter(q, "updated_at")
        for u in call.sandbox.state.users.values():
            if (u.service_account and not services) or (ids is not None and u.id not in ids):
                continue
            if wanted_employees is not None and u.employee_id not in wanted_employees:
                continue
            if offices is not None and not offices & set(u.office_ids):
                continue
            if departments is not None and not departments & set(u.department_ids):
                continue
            if deactivated is not None and u.deactivated != deactivated:
                continue
            if email is not None and (u.primary_email or "").lower() != email:
                continue
            if created(u.created_at) and updated(u.updated_at):
                yield u

    return _paginate(call, select)


# --- writes --------------------------------------------------------------------------------------
def _text(body: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(key, "can't be blank" if value in (None, "") else "must be a string")
    return value.strip()


def _int_field(body: dict[str, Any], key: str, *, required: bool = True) -> int | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(key, "must be an integer")
    return value


def _email(body: dict[str, Any], key: str, call: ApiCall) -> str:
    email = _text(body, key, required=True)
    assert email is not None
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise invalid(key, "is invalid")
    if call.sandbox.state.email_taken(email):
        raise invalid(key, "has already been taken")
    return email


def _touch(call: ApiCall, user: User) -> None:
    user.updated_at = max(int(call.sandbox.now()), user.updated_at + 1)


def _user(call: ApiCall) -> User:
    user = call.sandbox.state.users.get(call.ids[0])
    if user is None or user.service_account:
        raise not_found()
    return user


def _apply_profile(call: ApiCall, user: User, body: dict[str, Any]) -> None:
    for key in ("first_name", "last_name"):
        if key in body:
            value = _text(body, key, required=True)
            assert value is not None
            setattr(user, key, value)
    for key in ("employee_id", "job_title"):
        if key in body:
            setattr(user, key, _text(body, key, required=False))
    for key in ("office_ids", "department_ids"):
        if key in body:
            value = body[key]
            if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                raise invalid(key, "must be a list of ids")
            setattr(user, key, list(value))


def _create_user(call: ApiCall) -> Response:
    body, state = call.body, call.sandbox.state
    first, last = _text(body, "first_name", required=True), _text(body, "last_name", required=True)
    email = _email(body, "email", call)
    assert first is not None
    assert last is not None
    now = int(call.sandbox.now())
    user = User(state.new_id(), first, last, email, [email], now, now)
    _apply_profile(call, user, {k: v for k, v in body.items() if k not in ("first_name", "last_name")})
    state.users[user.id] = user
    if body.get("send_email_invite") is True:
        state.outbox.append({"to": email, "user_id": user.id, "kind": "invitation"})
    return answer(user.render(), 201)


def _update_user(call: ApiCall) -> Response:
    user = _user(call)
    _apply_profile(call, user, call.body)
    _touch(call, user)
    return answer(user.render())


def _set_active(active: bool) -> Handler:
    def handler(call: ApiCall) -> Response:
        user = _user(call)
        if user.deactivated == active:  # idempotent: only a change moves updated_at
            user.deactivated = not active
            _touch(call, user)
        return answer(None, 204)

    return handler


def _revoke(call: ApiCall) -> Response:
    user, state = _user(call), call.sandbox.state
    user.site_admin = False
    for table in (state.job_permissions, state.future_permissions):
        for pid in [p for p, perm in table.items() if perm.user_id == user.id]:
            del table[pid]
    _touch(call, user)
    return answer(None, 204)


def _add_email(call: ApiCall) -> Response:
    user_id = _int_field(call.body, "user_id")
    user = call.sandbox.state.users.get(user_id or 0)
    if user is None or user.service_account:
        raise invalid("user_id", "is not a user")
    email = _email(call.body, "email", call)
    user.emails.append(email)
    _touch(call, user)
    if call.body.get("send_verification") is True:
        call.sandbox.state.outbox.append({"to": email, "user_id": user.id, "kind": "verification"})
    return answer(
        {"id": call.sandbox.state.new_id(), "user_id": user.id, "email": email, "verified": False}, 201
    )


def _role(call: ApiCall, kinds: tuple[str, ...]) -> int:
    role_id = _int_field(call.body, "role_id")
    role = call.sandbox.state.roles.get(role_id or 0)
    if role is None or role.role_type not in kinds:
        raise invalid("role_id", "is not a job role")
    return role.id


def _perm_user(call: ApiCall) -> int:
    user_id = _int_field(call.body, "user_id")
    if user_id not in call.sandbox.state.users:
        raise invalid("user_id", "is not a user")
    assert user_id is not None
    return user_id


def _list_job_permissions(call: ApiCall) -> Response:
    def select(q: dict[str, str]) -> Iterable[JobPermission]:
        users, jobs = _id_list(q, "user_ids"), _id_list(q, "job_ids")
        return [
            p
            for p in call.sandbox.state.job_permissions.values()
            if (users is None or p.user_id in users) and (jobs is None or p.job_id in jobs)
        ]

    return _paginate(call, select)


def _add_job_permission(call: ApiCall) -> Response:
    state = call.sandbox.state
    user_id, job_id = _perm_user(call), _int_field(call.body, "job_id")
    role_id = _role(call, ("job_admin", "deprecated_interviewer"))
    assert job_id is not None
    perm = JobPermission(state.new_id(), user_id, job_id, role_id)
    state.job_permissions[perm.id] = perm
    return answer(perm.render(), 201)


def _list_future(call: ApiCall) -> Response:
    def select(q: dict[str, str]) -> Iterable[FuturePermission]:
        users = _id_list(q, "user_ids")
        return [
            p for p in call.sandbox.state.future_permissions.values() if users is None or p.user_id in users
        ]

    return _paginate(call, select)


def _add_future(call: ApiCall) -> Response:
    state = call.sandbox.state
    user_id, role_id = _perm_user(call), _role(call, ("job_admin",))
    department = _int_field(call.body, "department_id", required=False)
    office = _int_field(call.body, "office_id", required=False)
    perm = FuturePermission(state.new_id(), user_id, role_id, department, office)
    state.future_permissions[perm.id] = perm
    return answer(perm.render(), 201)


def _delete_from(table: str) -> Handler:
    def handler(call: ApiCall) -> Response:
        records: dict[int, Any] = getattr(call.sandbox.state, table)
        if records.pop(call.ids[0], None) is None:
            raise not_found()
        return answer(None, 204)

    return handler


def _list_roles(call: ApiCall) -> Response:
    return _paginate(call, lambda q: call.sandbox.state.roles.values())


_ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = tuple(
    (m, re.compile(p), h)
    for m, p, h in (
        ("GET", r"/users", _list_users),
        ("POST", r"/users", _create_user),
        ("PATCH", r"/users/(\d{1,18})", _update_user),
        ("POST", r"/users/(\d{1,18})/deactivate", _set_active(False)),
        ("POST", r"/users/(\d{1,18})/activate", _set_active(True)),
        ("POST", r"/users/(\d{1,18})/revoke_permissions", _revoke),
        ("POST", r"/user_emails", _add_email),
        ("GET", r"/user_job_permissions", _list_job_permissions),
        ("POST", r"/user_job_permissions", _add_job_permission),
        ("DELETE", r"/user_job_permissions/(\d{1,18})", _delete_from("job_permissions")),
        ("GET", r"/future_job_permissions", _list_future),
        ("POST", r"/future_job_permissions", _add_future),
        ("DELETE", r"/future_job_permissions/(\d{1,18})", _delete_from("future_permissions")),
        ("GET", r"/user_roles", _list_roles),
    )
)


def _route(method: str, rest: str) -> tuple[Handler, tuple[int, ...]] | None:
    for wanted, pattern, handler in _ROUTES:
        match = pattern.fullmatch(rest)
        if match and wanted == method:
            return handler, tuple(int(g) for g in match.groups())
    return None
