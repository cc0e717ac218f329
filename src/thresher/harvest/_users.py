"""Users: docs/harvest-api.md §6 (``/v2/users``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ._core import Core
from ._emails import normalize_email
from ._errors import AmbiguousCreateError, HarvestError
from ._models import User
from ._pagination import Page
from ._requests import UserCreate, UserUpdate

__all__ = ["Users"]

_log = logging.getLogger("thresher.harvest")


class Users(Core):
    def user_pages(
        self,
        *,
        is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
        per_page: int | None = None,
        start_url: str | None = None,
    ) -> AsyncIterator[Page[User]]:
        """``GET /v2/users``, page by page (newest first). Save ``page.next_url`` after each page
        and pass it as ``start_url`` to resume; the filters are then taken from that URL."""
        params = self._filters(is_active=is_active, updated_since=updated_since, per_page=per_page)
        return self._pages("/users", "users", User, params, start_url=start_url)

    async def list_users(
        self,
        *,
        is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
        per_page: int | None = None,
    ) -> AsyncIterator[User]:
        """``GET /v2/users``: every user, lazily, one page in memory at a time."""
        pages = self.user_pages(is_active=is_active, updated_since=updated_since, per_page=per_page)
        async for page in pages:
            for user in page.items:
                yield user

    async def get_user(self, user_id: int) -> User:
        """``GET /v2/users/{id}``."""
        return self._model(await self._send("GET", self._url(f"/users/{int(user_id)}")), User)

    async def me(self) -> User:
        """``GET /v2/users/me``: works for every role (gotcha 7)."""
        return self._model(await self._send("GET", self._url("/users/me")), User)

    async def create_user(self, user: UserCreate | Mapping[str, Any]) -> User:
        """``POST /v2/users``. Harvest emails an invitation on every create (gotcha 1).

        Never sent twice: if the POST may have reached Harvest but no clear answer came back
        (timeout, dropped connection, 5xx), the email is looked up instead and the user found is
        returned; if none is found, ``AmbiguousCreateError`` is raised.
        """
        body = self._validate(UserCreate, user)
        try:
            response = await self._send("POST", self._url("/users"), json=body.to_json())
        except AmbiguousCreateError as exc:
            return await self._resolve_ambiguous_create(body.email, exc)
        return self._model(response, User)

    async def _resolve_ambiguous_create(self, email: str, exc: AmbiguousCreateError) -> User:
        where: dict[str, Any] = {
            "method": exc.method, "url": exc.url, "status_code": exc.status_code, "body": exc.body,
        }
        try:
            found = await self.find_user_by_email(email)
        except HarvestError as lookup_error:
            raise AmbiguousCreateError(
                f"POST /v2/users for {email} got no clear answer ({exc.__cause__}), and looking "
                f"the email up failed too ({lookup_error})",
                hint="Do not create the user again until a listing shows whether it exists: a "
                "second create sends a second invitation.",
                **where,
            ) from exc
        if found is not None:
            _log.warning(
                "POST /v2/users got no clear answer; user %d with that email exists, using it",
                found.id,
            )
            return found
        raise AmbiguousCreateError(
            f"POST /v2/users for {email} got no clear answer ({exc.__cause__}) and no user with "
            "that email exists yet; Harvest may still be processing it",
            hint="Wait a minute and look the email up before creating again: a second create "
            "would send a second invitation.",
            **where,
        ) from exc

    async def update_user(self, user_id: int, changes: UserUpdate | Mapping[str, Any]) -> User:
        """``PATCH /v2/users/{id}``: only the fields set are sent (§6.4)."""
        body = self._validate(UserUpdate, changes)
        response = await self._send(
            "PATCH", self._url(f"/users/{int(user_id)}"), json=body.to_json()
        )
        return self._model(response, User)

    async def archive_user(self, user_id: int) -> User:
        """``PATCH /v2/users/{id}`` with ``{"is_active": false}``: the safe offboarding (gotcha 5)."""
        return await self.update_user(user_id, UserUpdate(is_active=False))

    async def restore_user(self, user_id: int) -> User:
        """``PATCH /v2/users/{id}`` with ``{"is_active": true}``."""
        return await self.update_user(user_id, UserUpdate(is_active=True))

    async def delete_user(self, user_id: int) -> None:
        """``DELETE /v2/users/{id}``: refused (422 [U]) once the user has time or expenses; archive
        instead. A 200 with or without the deleted user's JSON is success (§2)."""
        await self._send("DELETE", self._url(f"/users/{int(user_id)}"))

    async def find_user_by_email(self, email: str) -> User | None:
        """The user with this email (case-insensitive), active or archived, or None.

        Harvest has no email filter, so this reads the whole ``GET /v2/users`` listing (§6.4);
        prefer the store's mirror for routine lookups.
        """
        wanted = normalize_email(email)
        async for user in self.list_users():
            if normalize_email(user.email) == wanted:
                return user
        return None
