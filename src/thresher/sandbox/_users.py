"""Users, docs/harvest-api.md §6 (DOC-USERS)."""

from __future__ import annotations

import re

import orjson
from starlette.responses import Response

from ..harvest import AccessRoleError, is_harvest_timezone, normalize_email, validate_access_roles
from ._http import INT32_MAX, Call, Form, raw_json, unprocessable
from ._pagination import NewestFirst, envelope, read_page_query
from ._records import Rate, User
from ._render import user_bytes, user_dict
from ._section import ApiSection, RouteSpec, is_admin, is_manager

__all__ = ["UsersApi"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: §6.4: a create without ``weekly_capacity`` gets 35 hours.
DEFAULT_CAPACITY = 126000
NOT_REMOVABLE = "This user is not removable. It still has time entries and/or expenses."
ARCHIVED_FROZEN = "{field} can't be changed while the user is archived. Reactivate the user first."
SEATS_FULL = "This account has no seat left for another active user (seat limit: {limit})."


class UsersApi(ApiSection):
    def routes(self) -> list[RouteSpec]:
        return [
            ("/v2/users", "GET", self.list_users),
            ("/v2/users", "POST", self.create_user),
            ("/v2/users/me", "GET", self.me),
            ("/v2/users/{user_id}", "GET", self.get_user),
            ("/v2/users/{user_id}", "PATCH", self.update_user),
            ("/v2/users/{user_id}", "DELETE", self.delete_user),
        ]

    def list_users(self, call: Call) -> Response:
        """``GET /v2/users``: administrators see everyone; managers with teammates see their
        teammates (§6.1); others get 403. Newest first, cursor mode, ``is_active`` and
        ``updated_since`` filters."""
        state, actor = self.state, call.actor
        if is_admin(actor):
            ids = state.user_ids
        elif is_manager(actor) and state.teammates.get(actor.id):
            ids = state.teammates[actor.id]
        else:
            raise self.deny()
        query = read_page_query(call.params, ("is_active", "updated_since"))
        is_active, since = self.is_active_filter(call), self.updated_since(call)
        users = state.users
        if is_active is not None or since is not None:
            ids = [
                uid for uid in ids
                if (is_active is None or users[uid].is_active is is_active)
                and (since is None or users[uid].updated_at >= since)
            ]
        body = envelope("users", query, NewestFirst(ids), lambda uid: self._view(call, users[uid]),
                        origin=call.origin, path=call.url_path)
        return raw_json(body)

    def _view(self, call: Call, user: User) -> bytes:
        """The user as ``call.actor`` may see it. §6.1: only managers allowed to see billable rates
        see teammates' ``default_hourly_rate``, and cost rates are for administrators (§7.2); the
        hidden amounts are null, which keeps the object's shape (how Harvest hides them is [U])."""
        actor = call.actor
        if is_admin(actor) or actor.id == user.id:
            return user_bytes(self.state, user)
        data = user_dict(self.state, user)
        if "billable_rates_manager" not in actor.access_roles:
            data["default_hourly_rate"] = None
        data["cost_rate"] = None
        return orjson.dumps(data)

    def me(self, call: Call) -> Response:
        """``GET /v2/users/me``: any role."""
        return raw_json(user_bytes(self.state, call.actor))

    def get_user(self, call: Call) -> Response:
        """``GET /v2/users/{id}``: 404 for an unknown id, 403 for a user the token may not see."""
        user = self.user_or_404(call)
        if not self.can_view(call.actor, user):
            raise self.deny()
        return raw_json(self._view(call, user))

    def _check_roles(self, form: Form, names: list[str]) -> None:
        """Unknown role names create roles, or fail when configured so (§7.5 [U])."""
        index = self.state.role_name_index
        missing = [n for n in names if n and n.casefold() not in index]
        if missing and not self.sandbox.config.create_unknown_roles:
            form.error(f"Roles {', '.join(missing)} do not exist")

    def _apply_roles(self, user: User, names: list[str]) -> bool:
        state = self.state
        ids = []
        for name in names:
            if not name:
                continue
            rid = state.role_name_index.get(name.casefold())
            ids.append(rid if rid is not None else state.add_role(name).id)
        return state.set_user_roles(user, ids, touch=False)

    def _access_roles(self, form: Form) -> list[str] | None:
        requested = form.strings("access_roles")
        if requested is None:
            return None
        try:
            return validate_access_roles(requested)
        except AccessRoleError as exc:
            form.error(f"Access roles are invalid: {exc}")
            return None

    def _check_email(self, form: Form, email: str | None, user: User | None) -> None:
        if email is None:
            return
        if not _EMAIL.match(email):
            form.error("Email is invalid")
            return
        other = self.state.user_by_email(email)
        if other is not None and other is not user:
            # §8.2: 422 whose message contains the email; uniqueness ignores case [U].
            form.error(self.sandbox.config.duplicate_email_message.format(email=email))

    def _check_seat(self, form: Form) -> None:
        limit = self.sandbox.config.seat_limit
        if limit is not None and self.state.active_users >= limit:
            form.error(SEATS_FULL.format(limit=limit))

    def create_user(self, call: Call) -> Response:
        """``POST /v2/users`` (administrators): 201 + user and a ``Location`` header; the
        invitation email goes to the outbox (§8.1)."""
        self.require_admin(call)
        state, config = self.state, self.sandbox.config
        form = Form(call.body)
        first, last, email = form.text("first_name"), form.text("last_name"), form.text("email")
        for key, value in (("First name", first), ("Last name", last), ("Email", email)):
            if not value:
                form.error(f"{key} can't be blank")
        self._check_email(form, email or None, None)
        timezone = form.text("timezone") or config.company_timezone
        if not is_harvest_timezone(timezone):
            form.error("Timezone is not included in the list")
        future = form.boolean("has_access_to_all_future_projects")
        contractor = form.boolean("is_contractor")
        active = form.boolean("is_active")
        capacity = form.integer("weekly_capacity", maximum=INT32_MAX)
        if capacity is not None and capacity < 0:
            form.error("Weekly capacity must be greater than or equal to 0")
        hourly = form.number("default_hourly_rate")
        cost = form.number("cost_rate")
        names = form.strings("roles") or []
        self._check_roles(form, names)
        access = self._access_roles(form) or ["member"]
        if active is not False:
            self._check_seat(form)
        form.check()
        assert first is not None
        assert last is not None
        assert email is not None
        now = self.sandbox.clock.stamp()
        user = User(
            id=state.next_id("user"), first_name=first, last_name=last, email=email, telephone="",
            timezone=timezone, has_access_to_all_future_projects=bool(future),
            is_contractor=bool(contractor), is_active=active is not False,
            weekly_capacity=DEFAULT_CAPACITY if capacity is None else capacity,
            default_hourly_rate=config.default_new_user_rate if hourly is None else hourly,
            cost_rate=config.default_new_user_rate if cost is None else cost,
            access_roles=access,
            avatar_url=f"https://cache.harvestapp.com/assets/profile_images/big_ben.png?{now}",
            created_at=now, updated_at=now,
        )
        state.add_user(user)
        # The user's rates start as one rate from the beginning (§7.2), or none when null.
        initial = ((state.billable_rates, user.default_hourly_rate), (state.cost_rates, user.cost_rate))
        for table, amount in initial:
            if amount is not None:
                table[user.id] = [Rate(state.next_id("rate"), amount, None, now, now)]
        self._apply_roles(user, names)
        self.sandbox.record_invitation(user, call.origin)
        # §1: 2019 traffic carried a Location header on creates.
        return raw_json(user_bytes(state, user), 201, {"Location": f"{call.origin}/v2/users/{user.id}"})

    def update_user(self, call: Call) -> Response:
        """``PATCH /v2/users/{id}``: omitted fields stay. Managers may edit their teammates but not
        change emails, roles or permissions, archive or restore (§6.1). Names and email of an
        archived user are frozen (§8.3). ``telephone``, ``default_hourly_rate`` and ``cost_rate``
        are ignored silently (§10)."""
        state, config = self.state, self.sandbox.config
        user = self.user_or_404(call)
        actor = call.actor
        limited = not is_admin(actor)
        if limited and not (is_manager(actor) and (self.manages(actor, user) or actor.id == user.id)):
            raise self.deny()
        form = Form(call.body)
        first, last, email = form.text("first_name"), form.text("last_name"), form.text("email")
        timezone = form.text("timezone")
        future = form.boolean("has_access_to_all_future_projects")
        contractor = form.boolean("is_contractor")
        active = form.boolean("is_active")
        capacity = form.integer("weekly_capacity", maximum=INT32_MAX)
        names = form.strings("roles")
        access = self._access_roles(form)
        form.check()
        if limited and (
            (email is not None and normalize_email(email) != normalize_email(user.email))
            or (names is not None and sorted(n.casefold() for n in names if n)
                != sorted(n.casefold() for n in state.role_names(user.id)))
            or (access is not None and access != user.access_roles)
            or (active is not None and active != user.is_active)
        ):
            raise self.deny()
        for key, value in (("first_name", first), ("last_name", last), ("email", email)):
            if form.has(key) and not value:
                form.error(f"{key.replace('_', ' ').capitalize()} can't be blank")
        restoring = active is True and not user.is_active
        if not user.is_active and not (restoring and config.rename_while_restoring):
            frozen = (("First name", first, user.first_name), ("Last name", last, user.last_name),
                      ("Email", email, user.email))
            for label, new, old in frozen:
                if new and new != old:
                    form.error(ARCHIVED_FROZEN.format(field=label))
        self._check_email(form, email or None, user)
        if timezone and not is_harvest_timezone(timezone):
            form.error("Timezone is not included in the list")
        if capacity is not None and capacity < 0:
            form.error("Weekly capacity must be greater than or equal to 0")
        if names is not None:
            self._check_roles(form, names)
        if restoring:
            self._check_seat(form)
        form.check()

        changed = False
        if active is not None and active != user.is_active:
            state.set_active(user, active)
            changed = True
        updates: tuple[tuple[str, object], ...] = (
            ("first_name", first), ("last_name", last), ("timezone", timezone),
            ("has_access_to_all_future_projects", future), ("is_contractor", contractor),
            ("weekly_capacity", capacity),
        )
        for field, update in updates:
            if update is not None and update != getattr(user, field):
                setattr(user, field, update)
                changed = True
        if email and email != user.email:
            state.set_email(user, email)
            changed = True
        if access is not None and access != user.access_roles:
            state.set_access_roles(user, access)
            changed = True
        if names is not None and self._apply_roles(user, names):
            changed = True
        if changed:
            state.touch_user(user)
        return raw_json(self._view(call, user))

    def delete_user(self, call: Call) -> Response:
        """``DELETE /v2/users/{id}`` (administrators): 200 with the deleted user (2019 traffic);
        422 when the user has time entries or expenses (§6.4, §10)."""
        self.require_admin(call)
        state = self.state
        user = self.user_or_404(call)
        if state.has_time_or_expenses(user.id):
            raise unprocessable(NOT_REMOVABLE)
        body = user_bytes(state, user)
        state.delete_user(user.id)
        return raw_json(body)
