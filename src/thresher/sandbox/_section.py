"""What every API section shares: access to the sandbox, and the permission rules of §5.1, §6.1
and §7 (administrators do everything; managers act on their teammates; members on themselves)."""

from __future__ import annotations

import datetime as dt

from ._clock import parse_ts
from ._host import SandboxHost
from ._http import ApiError, Call, Form, Handler, forbidden, not_found, unprocessable
from ._records import User
from ._state import SandboxState

__all__ = ["ApiSection", "RouteSpec", "is_admin", "is_manager"]

RouteSpec = tuple[str, str, Handler]


def is_admin(user: User) -> bool:
    return user.access_roles[0] == "administrator"


def is_manager(user: User) -> bool:
    return user.access_roles[0] == "manager"


class ApiSection:
    """Base of the handler classes; one subclass per section of docs/harvest-api.md."""

    def __init__(self, sandbox: SandboxHost) -> None:
        self.sandbox = sandbox

    def routes(self) -> list[RouteSpec]:
        raise NotImplementedError

    @property
    def state(self) -> SandboxState:
        # Read on every call: reset() and restore() replace the state object.
        return self.sandbox.state

    def deny(self) -> ApiError:
        return forbidden(self.sandbox.config.forbidden_message)

    def require_admin(self, call: Call) -> None:
        if not is_admin(call.actor):
            raise self.deny()

    def user_or_404(self, call: Call, name: str = "user_id") -> User:
        user = self.state.users.get(call.path_id(name))
        if user is None:
            raise not_found()
        return user

    def manages(self, actor: User, user: User) -> bool:
        """§6.1: a manager acts on the teammates assigned to them."""
        return is_manager(actor) and user.id in self.state.teammates.get(actor.id, ())

    def can_view(self, actor: User, user: User) -> bool:
        return is_admin(actor) or actor.id == user.id or self.manages(actor, user)

    @staticmethod
    def updated_since(call: Call) -> float | None:
        """The ``updated_since`` filter (§8.8: ISO 8601; anything unreadable is a 422)."""
        raw = call.params.get("updated_since")
        if raw is None or not raw.strip():
            return None
        try:
            return parse_ts(raw)
        except (ValueError, OverflowError):
            raise unprocessable("Updated since is not a valid date and time") from None

    def may_see_work(self, actor: User, user_id: int, project_id: int) -> bool:
        """Time and expenses (tests/sandbox/data/harvest-openapi.yaml, ``GET /expenses``): an
        administrator sees everything; a manager their own, their teammates' and what was tracked
        on the projects they manage; a member their own."""
        if is_admin(actor) or actor.id == user_id:
            return True
        return is_manager(actor) and (
            user_id in self.state.teammates.get(actor.id, ())
            or project_id in self.state.managed_project_ids(actor.id)
        )

    @staticmethod
    def date_param(call: Call, name: str, *, required: bool = False) -> str | None:
        """A date query parameter as ``YYYY-MM-DD``; ``YYYYMMDD`` (the reports' examples) too."""
        raw = (call.params.get(name) or "").strip()
        if not raw:
            if required:
                raise unprocessable(f"{name.capitalize()} can't be blank")
            return None
        text = f"{raw[:4]}-{raw[4:6]}-{raw[6:]}" if len(raw) == 8 and raw.isdigit() else raw
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise unprocessable(f"{name.capitalize()} is not a valid date") from None

    @staticmethod
    def is_active_filter(call: Call) -> bool | None:
        form = Form(call.params)
        value = form.boolean("is_active")
        form.check()
        return value
