"""Harvest's rules for taking a user out and for editing an archived user, in one place.

The CLI's offboarding, the roster and the SCIM bridge all go through these functions:

- a user with time or expenses cannot be deleted (docs/harvest-api.md gotcha 5): try the delete,
  and archive when Harvest refuses;
- an archived user's names and email are frozen (docs/harvest-api.md gotcha 3): restore, change,
  archive again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from thresher.harvest import UnprocessableError, User, UserUpdate
from thresher.store import StoredUser

from ._writes import WriteThrough

__all__ = ["FROZEN_WHEN_ARCHIVED", "Removal", "edit_user", "remove_user"]

#: The fields Harvest refuses to change while a user is archived (docs/harvest-api.md gotcha 3).
FROZEN_WHEN_ARCHIVED = ("email", "first_name", "last_name")


@dataclasses.dataclass(frozen=True)
class Removal:
    """What :func:`remove_user` did."""

    outcome: Literal["deleted", "archived", "already archived"]
    #: Harvest's refusal of the delete, when the user was archived instead.
    reason: str | None = None


async def remove_user(
    writes: WriteThrough, user_id: int, *, is_active: bool, delete: bool = True
) -> Removal:
    """Take a user out of Harvest, keeping their time.

    With ``delete``: ``DELETE /v2/users/{id}``, and when Harvest refuses (the user has time or
    expenses) archive instead. Without: archive. ``is_active``: the user's current state; an
    archived user is left as is (outcome ``already archived``).
    """
    reason = None
    if delete:
        try:
            await writes.delete_user(user_id)
        except UnprocessableError as exc:
            reason = exc.api_message or str(exc)
        else:
            return Removal("deleted")
    if not is_active:
        return Removal("already archived", reason)
    await writes.archive_user(user_id)
    return Removal("archived", reason)


async def edit_user(
    writes: WriteThrough,
    current: StoredUser,
    changes: UserUpdate | Mapping[str, Any],
    *,
    active: bool | None = None,
) -> User | None:
    """Send ``changes`` (``PATCH /v2/users/{id}``) and reach the wanted state (``active``; None
    keeps the current one).

    An archived user whose names or email change is restored first and archived again after;
    a user to restore is restored before the change, one to archive is archived after it.
    ``changes`` must not hold ``is_active``: pass ``active``. Returns Harvest's last answer
    (None when there was nothing to send).
    """
    keys = changes.model_fields_set if isinstance(changes, UserUpdate) else set(changes)
    if "is_active" in keys:
        raise ValueError("pass the wanted state as active=, not in changes")
    archived = not current.is_active
    frozen = bool(keys.intersection(FROZEN_WHEN_ARCHIVED))
    restore = archived and (active is True or frozen)
    archive = (active is False and not archived) or (restore and active is not True)
    user_id = current.harvest_id
    answer: User | None = None
    if restore:
        answer = await writes.restore_user(user_id)
    if keys:
        answer = await writes.update_user(user_id, changes)
    if archive:
        answer = await writes.archive_user(user_id)
    return answer
