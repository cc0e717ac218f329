"""The SCIM bridge's records of one connection: what identity providers send that Harvest keeps no
field for (userNames, externalIds, enterprise fields, their emails), the users a SCIM DELETE hid,
and the writes sent to Harvest whose record is still to save.

Rows live in ``scim_users``, ``scim_groups`` (migration r0002) and ``scim_pending_users`` (r0004),
next to the roster mirror and keyed by Harvest ids. Every database error is a
:class:`~thresher.store.StoreError`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, bindparam, cast, delete, func, insert, select, update

from thresher.harvest import normalize_email

from ._database import read_connection, write_transaction
from ._errors import InvalidArgumentError
from ._queries import USER_RECORD_COLUMNS
from ._records import StoredRole, StoredUser
from ._store import Store
from ._tables import MEMBERS, ROLES, SCIM_GROUPS, SCIM_PENDING_USERS, SCIM_USERS, USERS

__all__ = ["ScimPendingUser", "ScimRecords", "ScimUserExtras", "user_name_key"]


@dataclasses.dataclass(frozen=True, slots=True)
class ScimUserExtras:
    """The SCIM-only data of one user. ``user_name``: None means the Harvest email (the userName
    of users the bridge never wrote)."""

    external_id: str | None = None
    employee_number: str | None = None
    department: str | None = None
    emails: list[dict[str, Any]] | None = None
    hidden_at: dt.datetime | None = None
    user_name: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ScimPendingUser:
    """A SCIM write sent to Harvest whose record (``extras``) is not saved yet: it belongs to the
    user ``harvest_id`` (an update) or to the user Harvest holds ``email`` for (a creation)."""

    id: int
    harvest_id: int | None
    email: str
    extras: ScimUserExtras
    created_at: dt.datetime
    #: A creation the bridge completed without its request (see ``save_user_extras``).
    completed_at: dt.datetime | None = None


def user_name_key(user_name: str) -> str:
    """How userNames are compared (RFC 7643 §4.1.1: without regard to case): ``str.lower``, as
    scim2-models' filter matching does."""
    return user_name.lower()


_EXTRAS_FIELDS = tuple(f.name for f in dataclasses.fields(ScimUserExtras))
_EXTRAS_COLUMNS = [SCIM_USERS.c[f] for f in _EXTRAS_FIELDS]
_RECORD_FIELDS = ("user_name", "external_id", "employee_number", "department", "emails")


def _users_with_extras(condition: ColumnElement[bool]) -> Select[Any]:
    joined = USERS.outerjoin(
        SCIM_USERS,
        (SCIM_USERS.c.connection_id == USERS.c.connection_id)
        & (SCIM_USERS.c.harvest_id == USERS.c.harvest_id),
    )
    return (
        select(*USER_RECORD_COLUMNS, *_EXTRAS_COLUMNS)
        .select_from(joined)
        .where(
            USERS.c.connection_id == bindparam("connection_id"),
            USERS.c.deleted_at.is_(None),
            condition,
        )
    )


# The bridge's hot lookups, built once: constructing a 40-column statement and its cache key
# costs three times as much as running it (0.43 ms against 0.12 ms for a miss on SQLite).
# Unordered on purpose: with ORDER BY harvest_id, SQLite walks the primary key of every user
# instead of the email index.
_BY_EMAIL = _users_with_extras(USERS.c.email_lower == bindparam("email"))
# A user's userName is its record's, or its Harvest email when the bridge never set one.
_BY_EMAIL_AS_USER_NAME = _users_with_extras(
    (USERS.c.email_lower == bindparam("email")) & SCIM_USERS.c.user_name.is_(None)
)
_BY_USER_NAME = _users_with_extras(SCIM_USERS.c.user_name_key == bindparam("key"))
_BY_EXTERNAL_ID = _users_with_extras(SCIM_USERS.c.external_id == bindparam("external_id"))
_BY_IDS = _users_with_extras(USERS.c.harvest_id.in_(bindparam("ids", expanding=True)))
_ROLE_IDS = select(ROLES.c.name, ROLES.c.harvest_id).where(
    ROLES.c.connection_id == bindparam("connection_id"), ROLES.c.deleted_at.is_(None)
)
# One live role with its externalId, and the ids of the members the bridge shows: live users a
# SCIM DELETE did not hide. Ids only, through the role_members primary key, never user rows (a
# group of 2,000 members read 2,000 forty-column rows only to learn which ids to show).
_ROLE = (
    select(
        ROLES.c.connection_id,
        ROLES.c.harvest_id,
        ROLES.c.name,
        ROLES.c.created_at,
        ROLES.c.updated_at,
        ROLES.c.deleted_at,
        SCIM_GROUPS.c.external_id,
    )
    .select_from(
        ROLES.outerjoin(
            SCIM_GROUPS,
            (SCIM_GROUPS.c.connection_id == ROLES.c.connection_id)
            & (SCIM_GROUPS.c.role_id == ROLES.c.harvest_id),
        )
    )
    .where(
        ROLES.c.connection_id == bindparam("connection_id"),
        ROLES.c.harvest_id == bindparam("role_id"),
        ROLES.c.deleted_at.is_(None),
    )
)
_SHOWN_MEMBER_IDS = (
    select(MEMBERS.c.user_id)
    .select_from(
        MEMBERS.join(
            USERS,
            (USERS.c.connection_id == MEMBERS.c.connection_id)
            & (USERS.c.harvest_id == MEMBERS.c.user_id),
        ).outerjoin(
            SCIM_USERS,
            (SCIM_USERS.c.connection_id == MEMBERS.c.connection_id)
            & (SCIM_USERS.c.harvest_id == MEMBERS.c.user_id),
        )
    )
    .where(
        MEMBERS.c.connection_id == bindparam("connection_id"),
        MEMBERS.c.role_id == bindparam("role_id"),
        USERS.c.deleted_at.is_(None),
        SCIM_USERS.c.hidden_at.is_(None),
    )
    .order_by(MEMBERS.c.user_id)
)
_FIRST_SHOWN_MEMBER_ID = _SHOWN_MEMBER_IDS.limit(1)
_SHOWN_USER_IDS = (
    select(USERS.c.harvest_id)
    .select_from(
        USERS.outerjoin(
            SCIM_USERS,
            (SCIM_USERS.c.connection_id == USERS.c.connection_id)
            & (SCIM_USERS.c.harvest_id == USERS.c.harvest_id),
        )
    )
    .where(
        USERS.c.connection_id == bindparam("connection_id"),
        USERS.c.harvest_id.in_(bindparam("ids", expanding=True)),
        USERS.c.deleted_at.is_(None),
        SCIM_USERS.c.hidden_at.is_(None),
    )
)


def _pairs(rows: Iterable[Any]) -> dict[int, tuple[StoredUser, ScimUserExtras]]:
    n = len(USER_RECORD_COLUMNS)
    found: dict[int, tuple[StoredUser, ScimUserExtras]] = {}
    for row in rows:
        user = StoredUser(*row[:n])
        found[user.harvest_id] = (user, ScimUserExtras(*row[n:]))
    return found


def _shown_ids(connection_id: int) -> Select[Any]:
    """The ids of the connection's users the bridge shows: live, and not hidden by a DELETE."""
    return (
        select(USERS.c.harvest_id)
        .select_from(
            USERS.outerjoin(
                SCIM_USERS,
                (SCIM_USERS.c.connection_id == USERS.c.connection_id)
                & (SCIM_USERS.c.harvest_id == USERS.c.harvest_id),
            )
        )
        .where(
            USERS.c.connection_id == connection_id,
            USERS.c.deleted_at.is_(None),
            SCIM_USERS.c.hidden_at.is_(None),
        )
    )


class ScimRecords:
    """SCIM-only data of one connection: user extras and groups' externalIds."""

    def __init__(self, store: Store, connection_id: int) -> None:
        self._engine = store.engine
        self._url = store.url
        self.connection_id = connection_id

    # -- users -----------------------------------------------------------------------------

    def user_extras(self, harvest_ids: Iterable[int] | None = None) -> dict[int, ScimUserExtras]:
        """Extras by Harvest id (all of the connection's when ``harvest_ids`` is None)."""
        query = select(SCIM_USERS.c.harvest_id, *_EXTRAS_COLUMNS).where(
            SCIM_USERS.c.connection_id == self.connection_id
        )
        if harvest_ids is not None:
            ids = list(harvest_ids)
            if not ids:
                return {}
            query = query.where(SCIM_USERS.c.harvest_id.in_(ids))
        with read_connection(self._engine, self._url) as conn:
            return {row[0]: ScimUserExtras(*row[1:]) for row in conn.execute(query)}

    def users_with_extras(
        self,
        *,
        email: str | None = None,
        external_id: str | None = None,
        harvest_ids: Iterable[int] | None = None,
        user_name: str | None = None,
    ) -> dict[int, tuple[StoredUser, ScimUserExtras]]:
        """Live mirror users found by exactly one of ``email`` (exact, any case), ``external_id``,
        ``harvest_ids`` or ``user_name`` (any case; the Harvest email of users without a
        recorded one), each with its SCIM-only data, in one query (two for ``user_name``): the
        lookups identity providers make before every create cost one round trip."""
        params: dict[str, Any] = {"connection_id": self.connection_id}
        if user_name is not None:
            return self._by_user_name(user_name)
        if email is not None:
            query, params["email"] = _BY_EMAIL, normalize_email(email)
        elif external_id is not None:
            query, params["external_id"] = _BY_EXTERNAL_ID, external_id
        elif harvest_ids is not None:
            query, params["ids"] = _BY_IDS, list(harvest_ids)
            if not params["ids"]:
                return {}
        else:
            raise InvalidArgumentError("give email, external_id, harvest_ids or user_name")
        with read_connection(self._engine, self._url) as conn:
            return _pairs(conn.execute(query, params).all())

    def lookup_users(
        self, kind: str, value: str | int
    ) -> tuple[dict[int, tuple[StoredUser, ScimUserExtras]], dict[str, int]]:
        """The bridge's hot read, in one connection: what :meth:`users_with_extras` finds by
        ``kind`` (``user_name``, ``external_id`` or ``harvest_id``) and ``value``, and, when one of
        them has roles, :meth:`role_ids_by_name` (their groups need it)."""
        params: dict[str, Any] = {"connection_id": self.connection_id}
        with read_connection(self._engine, self._url) as conn:
            if kind == "user_name":
                params["key"] = user_name_key(str(value))
                params["email"] = normalize_email(str(value))
                rows: Sequence[Any] = [
                    *conn.execute(_BY_USER_NAME, params),
                    *conn.execute(_BY_EMAIL_AS_USER_NAME, params),
                ]
            elif kind == "external_id":
                rows = conn.execute(_BY_EXTERNAL_ID, {**params, "external_id": value}).all()
            elif kind == "harvest_id":
                rows = conn.execute(_BY_IDS, {**params, "ids": [int(value)]}).all()
            else:
                raise InvalidArgumentError(f"cannot look users up by {kind!r}")
            found = _pairs(rows)
            role_ids: dict[str, int] = {}
            if any(user.roles for user, _ in found.values()):
                named = conn.execute(_ROLE_IDS, {"connection_id": self.connection_id})
                role_ids = {name: rid for name, rid in named}
        return found, role_ids

    def _by_user_name(self, user_name: str) -> dict[int, tuple[StoredUser, ScimUserExtras]]:
        params = {
            "connection_id": self.connection_id,
            "key": user_name_key(user_name),
            "email": normalize_email(user_name),
        }
        with read_connection(self._engine, self._url) as conn:
            rows = [*conn.execute(_BY_USER_NAME, params), *conn.execute(_BY_EMAIL_AS_USER_NAME, params)]
        return _pairs(rows)

    def hidden_user_ids(self) -> set[int]:
        query = select(SCIM_USERS.c.harvest_id).where(
            SCIM_USERS.c.connection_id == self.connection_id, SCIM_USERS.c.hidden_at.is_not(None)
        )
        with read_connection(self._engine, self._url) as conn:
            return set(conn.execute(query).scalars())

    def user_ids_with_email_text(self, needle: str) -> list[int]:
        """Users whose stored ``emails`` JSON contains ``needle`` (any case): a candidate list,
        callers confirm each with the filter itself."""
        text = func.lower(cast(SCIM_USERS.c.emails, Text))
        query = select(SCIM_USERS.c.harvest_id).where(
            SCIM_USERS.c.connection_id == self.connection_id,
            SCIM_USERS.c.emails.is_not(None),
            text.contains(needle.lower(), autoescape=True),
        )
        with read_connection(self._engine, self._url) as conn:
            return sorted(conn.execute(query).scalars())

    def save_user_extras(
        self,
        harvest_id: int,
        extras: ScimUserExtras,
        *,
        pending_id: int | None = None,
        keep_pending: bool = False,
    ) -> None:
        """Replace a user's extras; ``pending_id``: the pending write they complete, forgotten in
        the same transaction with every other pending update of the user (this record supersedes
        them), or with ``keep_pending`` marked completed for this user instead. A userName
        recorded for another user that is no longer shown (a SCIM DELETE hid it, or it left
        Harvest) passes to this one; the other user's userName becomes its Harvest email again."""
        values: dict[str, Any] = dataclasses.asdict(extras)
        values["user_name_key"] = None if extras.user_name is None else user_name_key(extras.user_name)
        key = (SCIM_USERS.c.connection_id == self.connection_id) & (SCIM_USERS.c.harvest_id == harvest_id)
        with write_transaction(self._engine, self._url) as conn:
            if values["user_name_key"] is not None:
                conn.execute(
                    update(SCIM_USERS)
                    .where(
                        SCIM_USERS.c.connection_id == self.connection_id,
                        SCIM_USERS.c.user_name_key == values["user_name_key"],
                        SCIM_USERS.c.harvest_id != harvest_id,
                        SCIM_USERS.c.harvest_id.not_in(_shown_ids(self.connection_id)),
                    )
                    .values(user_name=None, user_name_key=None)
                )
            done = SCIM_PENDING_USERS.c.harvest_id == harvest_id
            if pending_id is not None and not keep_pending:
                done = done | (SCIM_PENDING_USERS.c.id == pending_id)
            conn.execute(
                delete(SCIM_PENDING_USERS).where(
                    SCIM_PENDING_USERS.c.connection_id == self.connection_id, done
                )
            )
            if pending_id is not None and keep_pending:
                conn.execute(
                    update(SCIM_PENDING_USERS)
                    .where(SCIM_PENDING_USERS.c.id == pending_id)
                    .values(harvest_id=harvest_id, completed_at=dt.datetime.now(dt.UTC))
                )
            if conn.execute(select(SCIM_USERS.c.harvest_id).where(key)).first() is None:
                conn.execute(
                    insert(SCIM_USERS).values(
                        connection_id=self.connection_id, harvest_id=harvest_id, **values
                    )
                )
            else:
                conn.execute(update(SCIM_USERS).where(key).values(**values))

    # -- pending writes --------------------------------------------------------------------

    def add_pending(self, harvest_id: int | None, email: str, extras: ScimUserExtras) -> int:
        """Record a write about to go to Harvest (see :class:`ScimPendingUser`); returns its id."""
        record = {f: getattr(extras, f) for f in _RECORD_FIELDS}
        values = {
            "connection_id": self.connection_id,
            "harvest_id": harvest_id,
            "email": email,
            "user_name_key": None if extras.user_name is None else user_name_key(extras.user_name),
            "record": record,
            "created_at": dt.datetime.now(dt.UTC),
        }
        with write_transaction(self._engine, self._url) as conn:
            inserted = conn.execute(insert(SCIM_PENDING_USERS).values(**values))
            return int(inserted.inserted_primary_key[0])  # type: ignore[index]

    def pending(self, *, user_name: str | None = None) -> list[ScimPendingUser]:
        """The connection's pending writes, oldest first (only those for ``user_name``, any
        case, when given)."""
        query = select(SCIM_PENDING_USERS).where(SCIM_PENDING_USERS.c.connection_id == self.connection_id)
        if user_name is not None:
            query = query.where(SCIM_PENDING_USERS.c.user_name_key == user_name_key(user_name))
        with read_connection(self._engine, self._url) as conn:
            rows = conn.execute(query.order_by(SCIM_PENDING_USERS.c.id)).all()
        return [
            ScimPendingUser(
                id=row.id,
                harvest_id=row.harvest_id,
                email=row.email,
                extras=ScimUserExtras(**{f: row.record.get(f) for f in _RECORD_FIELDS}),
                created_at=row.created_at,
                completed_at=row.completed_at,
            )
            for row in rows
        ]

    def forget_pending(self, pending_id: int) -> None:
        with write_transaction(self._engine, self._url) as conn:
            conn.execute(delete(SCIM_PENDING_USERS).where(SCIM_PENDING_USERS.c.id == pending_id))

    # -- groups ----------------------------------------------------------------------------

    def role_ids_by_name(self) -> dict[str, int]:
        """Live roles' ids by name, without their members (a user's groups need only these)."""
        with read_connection(self._engine, self._url) as conn:
            rows = conn.execute(_ROLE_IDS, {"connection_id": self.connection_id})
            return {name: role_id for name, role_id in rows}

    def shown_group(
        self, role_id: int, *, members_limit: int | None = None
    ) -> tuple[StoredRole, str | None] | None:
        """The live role ``role_id`` and its externalId, or None. Its ``user_ids`` are only the
        members the bridge shows (live users a SCIM DELETE did not hide), ascending, and only
        the first one when ``members_limit`` is 1: one read, two indexed statements, whatever
        the group's size."""
        if members_limit not in (None, 1):
            raise InvalidArgumentError("members_limit is None (all) or 1")
        params = {"connection_id": self.connection_id, "role_id": role_id}
        members = _SHOWN_MEMBER_IDS if members_limit is None else _FIRST_SHOWN_MEMBER_ID
        with read_connection(self._engine, self._url) as conn:
            row = conn.execute(_ROLE, params).first()
            if row is None:
                return None
            member_ids = list(conn.execute(members, params).scalars().all())
        role = StoredRole(
            connection_id=row.connection_id,
            harvest_id=row.harvest_id,
            name=row.name,
            user_ids=member_ids,
            created_at=row.created_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
        )
        return role, row.external_id

    def shown_user_ids(self, harvest_ids: Iterable[int]) -> set[int]:
        """Which of ``harvest_ids`` the bridge shows (live users a SCIM DELETE did not hide): ids
        only, no user rows. Callers keep ``harvest_ids`` under the database's bound parameters."""
        params = {"connection_id": self.connection_id, "ids": list(harvest_ids)}
        if not params["ids"]:
            return set()
        with read_connection(self._engine, self._url) as conn:
            return set(conn.execute(_SHOWN_USER_IDS, params).scalars().all())

    def shown_member_ids(self, role_id: int) -> list[int]:
        """The ids of the members of role ``role_id`` the bridge shows, ascending (see
        :meth:`shown_group`): one indexed statement of ids, no user rows."""
        params = {"connection_id": self.connection_id, "role_id": role_id}
        with read_connection(self._engine, self._url) as conn:
            return list(conn.execute(_SHOWN_MEMBER_IDS, params).scalars().all())

    def group_external_ids(self) -> dict[int, str | None]:
        query = select(SCIM_GROUPS.c.role_id, SCIM_GROUPS.c.external_id).where(
            SCIM_GROUPS.c.connection_id == self.connection_id
        )
        with read_connection(self._engine, self._url) as conn:
            return {row.role_id: row.external_id for row in conn.execute(query)}

    def save_group(self, role_id: int, external_id: str | None) -> None:
        """Set a group's externalId (None: the group has none)."""
        key = (SCIM_GROUPS.c.connection_id == self.connection_id) & (SCIM_GROUPS.c.role_id == role_id)
        with write_transaction(self._engine, self._url) as conn:
            conn.execute(delete(SCIM_GROUPS).where(key))
            conn.execute(
                insert(SCIM_GROUPS).values(
                    connection_id=self.connection_id, role_id=role_id, external_id=external_id
                )
            )

    def forget_group(self, role_id: int) -> None:
        key = (SCIM_GROUPS.c.connection_id == self.connection_id) & (SCIM_GROUPS.c.role_id == role_id)
        with write_transaction(self._engine, self._url) as conn:
            conn.execute(delete(SCIM_GROUPS).where(key))
