"""Everyday operations built on write-through: finding a user, and offboarding safely."""

from __future__ import annotations

import dataclasses

from thresher._errors import ThresherError
from thresher.harvest import PEOPLE_MANAGER, User

from ._lifecycle import remove_user
from ._writes import WriteThrough

__all__ = ["OffboardResult", "ProvisionError", "UnknownUserError", "find_user", "offboard"]


class ProvisionError(ThresherError):
    """A provisioning request that cannot be carried out as asked."""


class UnknownUserError(ProvisionError):
    """No user has this email or id."""


async def find_user(writes: WriteThrough, who: str) -> User:
    """The Harvest user with this id or email, read fresh from Harvest.

    By email the store answers first (one ``GET /v2/users/{id}``); when the mirror does not know
    the email, the whole listing is read (Harvest has no email filter, §6.4).
    """
    who = who.strip()
    conn_id = writes.connection.id
    if who.isdigit():
        return await writes.client.get_user(int(who))
    stored = writes.store.find_user_by_email(conn_id, who)
    if stored is not None:
        return await writes.client.get_user(stored.harvest_id)
    found = await writes.client.find_user_by_email(who)
    if found is None:
        raise UnknownUserError(
            f"no Harvest user has the email {who!r}",
            hint="Check the spelling; 'thresher users list --email ...' searches the mirror.",
        )
    return found


@dataclasses.dataclass
class OffboardResult:
    user_id: int
    email: str
    outcome: str  # "deleted" | "archived" | "already archived", as Removal.outcome
    reason: str | None = None
    removed_from_managers: list[int] = dataclasses.field(default_factory=list)
    removed_from_roles: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


async def offboard(
    writes: WriteThrough,
    user: User,
    *,
    own_user_id: int,
    delete: bool = False,
    remove_from_teams: bool = False,
    remove_from_roles: bool = False,
) -> OffboardResult:
    """Take ``user`` out of Harvest, keeping their time: archive, or with ``delete`` try a delete
    and archive when Harvest refuses (see :func:`remove_user`)."""
    if user.id == own_user_id:
        raise ProvisionError(
            f"{user.email} is the owner of the token in use; thresher never offboards itself",
            hint="Offboard this person with another administrator's token.",
        )
    result = OffboardResult(user.id, user.email, "archived")
    conn_id = writes.connection.id
    if remove_from_teams:
        for manager in writes.store.list_users(conn_id, access_role=PEOPLE_MANAGER):
            teammates = writes.store.get_teammates(conn_id, manager.harvest_id)
            if user.id in teammates:
                await writes.set_teammates(
                    manager.harvest_id, [t for t in teammates if t != user.id]
                )
                result.removed_from_managers.append(manager.harvest_id)
        if PEOPLE_MANAGER in user.access_roles:
            await writes.set_teammates(user.id, [])
    if remove_from_roles:
        for role in writes.store.list_roles(conn_id):
            if user.id in role.user_ids:
                await writes.update_role(
                    role.harvest_id, user_ids=[u for u in role.user_ids if u != user.id]
                )
                result.removed_from_roles.append(role.name)
    removal = await remove_user(writes, user.id, is_active=user.is_active, delete=delete)
    result.outcome, result.reason = removal.outcome, removal.reason
    return result
