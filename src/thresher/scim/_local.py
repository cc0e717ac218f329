"""What the bridge keeps that Harvest cannot: userNames, externalIds, enterprise fields, the IdP's
emails, and the writes sent to Harvest whose record is not saved yet.

The rows live in the store, next to the roster mirror, keyed by Harvest ids
(``thresher.store.ScimRecords``). They are written after Harvest accepted the write they belong
to; a pending entry, before it (see ``_user_writes``).
"""

from __future__ import annotations

from collections.abc import Iterable

from thresher.store import ScimPendingUser, ScimRecords, ScimUserExtras, Store, StoredRole, StoredUser

__all__ = ["LocalRecords", "PendingUser", "UserExtras"]

#: The SCIM-only data of one user (the store's record of it).
UserExtras = ScimUserExtras
#: A write sent to Harvest whose record is not saved yet.
PendingUser = ScimPendingUser


class LocalRecords:
    """SCIM-only data of one connection."""

    def __init__(self, store: Store, connection_id: int) -> None:
        self.store = store
        self.connection_id = connection_id
        self._records = ScimRecords(store, connection_id)

    # -- users -----------------------------------------------------------------------------

    def user_extras(self, harvest_ids: Iterable[int] | None = None) -> dict[int, UserExtras]:
        """Extras by Harvest id (all of the connection's when ``harvest_ids`` is None)."""
        return self._records.user_extras(harvest_ids)

    def users_with_extras(
        self,
        *,
        email: str | None = None,
        external_id: str | None = None,
        harvest_ids: Iterable[int] | None = None,
        user_name: str | None = None,
    ) -> dict[int, tuple[StoredUser, UserExtras]]:
        """Live mirror users found by exactly one of ``email`` (exact, any case), ``external_id``,
        ``harvest_ids`` or ``user_name`` (any case), each with its SCIM-only data."""
        if email is None and external_id is None and harvest_ids is None and user_name is None:
            raise ValueError("give email, external_id, harvest_ids or user_name")
        return self._records.users_with_extras(
            email=email, external_id=external_id, harvest_ids=harvest_ids, user_name=user_name
        )

    def lookup_users(
        self, kind: str, value: str | int
    ) -> tuple[dict[int, tuple[StoredUser, UserExtras]], dict[str, int]]:
        """The users ``user_name``, ``external_id`` or ``harvest_id`` ``kind`` finds, as
        :meth:`users_with_extras` does, and the role ids their groups need, in one connection."""
        return self._records.lookup_users(kind, value)

    def extras_of(self, harvest_id: int) -> UserExtras:
        return self.user_extras([harvest_id]).get(harvest_id, UserExtras())

    def hidden_user_ids(self) -> set[int]:
        return self._records.hidden_user_ids()

    def user_ids_with_email_text(self, needle: str) -> list[int]:
        """Users whose stored ``emails`` JSON contains ``needle`` (any case): a candidate list,
        callers confirm each with the filter itself."""
        return self._records.user_ids_with_email_text(needle)

    def save_user(
        self,
        harvest_id: int,
        extras: UserExtras,
        *,
        pending_id: int | None = None,
        keep_pending: bool = False,
    ) -> None:
        """Replace the user's record (``pending_id``: the pending write it completes, kept and
        marked completed with ``keep_pending``)."""
        self._records.save_user_extras(harvest_id, extras, pending_id=pending_id, keep_pending=keep_pending)

    def add_pending(self, harvest_id: int | None, email: str, extras: UserExtras) -> int:
        return self._records.add_pending(harvest_id, email, extras)

    def pending(self, *, user_name: str | None = None) -> list[PendingUser]:
        return self._records.pending(user_name=user_name)

    def forget_pending(self, pending_id: int) -> None:
        self._records.forget_pending(pending_id)

    # -- groups ----------------------------------------------------------------------------

    def role_ids_by_name(self) -> dict[str, int]:
        """Live roles' ids by name, without their members (a user's groups need only these)."""
        return self._records.role_ids_by_name()

    def shown_group(
        self, role_id: int, *, members_limit: int | None = None
    ) -> tuple[StoredRole, str | None] | None:
        """The live role and its externalId; its ``user_ids`` only the members the bridge shows
        (only the first when ``members_limit`` is 1)."""
        return self._records.shown_group(role_id, members_limit=members_limit)

    def shown_user_ids(self, harvest_ids: Iterable[int]) -> set[int]:
        """Which of ``harvest_ids`` are live users the bridge shows (not hidden)."""
        return self._records.shown_user_ids(harvest_ids)

    def shown_member_ids(self, role_id: int) -> list[int]:
        """The ids of the role's members the bridge shows, ascending."""
        return self._records.shown_member_ids(role_id)

    def group_external_ids(self) -> dict[int, str | None]:
        return self._records.group_external_ids()

    def save_group(self, role_id: int, external_id: str | None) -> None:
        self._records.save_group(role_id, external_id)

    def forget_group(self, role_id: int) -> None:
        self._records.forget_group(role_id)
