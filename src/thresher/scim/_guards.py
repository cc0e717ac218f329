"""The bridge never locks itself out of Harvest: its token's own user stays an active administrator.

Every write the bridge makes goes through one Harvest token, and only an administrator may
archive, delete or demote users (docs/harvest-api.md §6.1). An identity provider that deletes,
deactivates or demotes the token's owner would leave the bridge answering 502 to every later
write, so those requests get 400 ``mutability`` instead, as ``thresher offboard`` and
``apply --prune`` refuse to archive the token's owner (``thresher.provision.offboard``).

Groups are Harvest roles, which are labels without rights (docs/harvest-api.md §7.5): no Group
operation can archive a user or take away the administrator role, so only User writes are
checked. The owner is known from login (``ResolvedConnection.own_user_id``), or asked once with
``GET /v2/users/me`` (at start-up by the bridge's lifespan, else on the first write that needs it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from scim2_models import MutabilityException

from thresher.harvest import AsyncHarvest, HarvestError
from thresher.store import StoredUser

from ._errors import scim_error

__all__ = ["OwnUserGuard"]

_ADMINISTRATOR = "administrator"
_HINT = (
    "Do this with another administrator's token, or give the bridge another administrator's "
    "token first (thresher login)"
)


class OwnUserGuard:
    """Refuses the User writes that would remove the bridge token's owner from Harvest."""

    def __init__(self, client: AsyncHarvest, own_user_id: int | None = None) -> None:
        self.client = client
        self._own_user_id = own_user_id
        self._lock = asyncio.Lock()

    async def own_user_id(self) -> int:
        """The token owner's Harvest id (``GET /v2/users/me`` once, then remembered)."""
        if self._own_user_id is None:
            async with self._lock:
                if self._own_user_id is None:
                    try:
                        self._own_user_id = (await self.client.me()).id
                    except HarvestError as exc:
                        raise scim_error(exc, "the bridge's own user") from None
        return self._own_user_id

    async def _is_owner(self, user: StoredUser) -> bool:
        if self._own_user_id is None and _ADMINISTRATOR not in user.access_roles:
            # Only an administrator's token can archive, delete or demote anyone (§6.1), so a
            # user who is not one cannot own a token that succeeds at it; asking Harvest would
            # cost a request on the first deactivation of an ordinary member.
            return False
        return await self.own_user_id() == user.harvest_id

    async def check_removal(self, user: StoredUser) -> None:
        """Before ``DELETE /Users/{id}``."""
        if await self._is_owner(user):
            raise MutabilityException(
                detail=f"user {user.harvest_id} owns the Harvest token the bridge uses; deleting "
                f"or archiving them would stop every later write. {_HINT}."
            )

    async def check_change(
        self, user: StoredUser, *, active: bool | None, changes: Mapping[str, Any]
    ) -> None:
        """Before a PUT or PATCH is sent: ``active`` is the requested state (None: unchanged),
        ``changes`` the Harvest fields that will change."""
        roles: Iterable[str] | None = changes.get("access_roles")
        demoted = roles is not None and _ADMINISTRATOR not in roles and _ADMINISTRATOR in user.access_roles
        if not (active is False and user.is_active) and not demoted:
            return
        if not await self._is_owner(user):
            return
        what = "deactivating" if active is False and user.is_active else "demoting"
        raise MutabilityException(
            detail=f"user {user.harvest_id} owns the Harvest token the bridge uses; {what} them "
            f"would stop every later write. {_HINT}."
        )

    async def prefetch(self) -> None:
        """Learn the owner now (the bridge's start-up), so no request waits for it later."""
        await self.own_user_id()
