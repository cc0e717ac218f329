"""Reads of one connection's roster the MCP server answers agents with, from the mirror alone.

``Store`` answers the everyday lookups (``list_users``, ``get_teammates``); these are the ones an
agent asks that it does not: a paged search with its total and a manager filter, who manages a
user (the teammates table read backwards), and the roster's head counts. Every one is a handful
of indexed statements, so a 10,000-user mirror answers in milliseconds (bench/mcp.py).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection as SAConnection

from thresher.harvest import normalize_email

from ._database import read_connection
from ._queries import USER_RECORD_COLUMNS
from ._records import StoredUser
from ._store import Store
from ._tables import TEAMMATES, USERS

__all__ = ["RosterPage", "RosterReads", "UserStatus"]

#: ``any`` includes archived users, never tombstones; ``deleted`` is tombstones only.
UserStatus = Literal["active", "archived", "deleted", "any"]


@dataclasses.dataclass(frozen=True, slots=True)
class RosterPage:
    """One page of a search: ``users`` from ``offset``, of ``total`` matches."""

    users: list[StoredUser]
    total: int
    offset: int


class RosterReads:
    """Searches, reporting lines and counts of one connection's mirrored roster."""

    def __init__(self, store: Store, connection_id: int) -> None:
        self._store = store
        self._engine = store.engine
        self._url = store.url
        self.connection_id = connection_id

    def _read(self, fn: Any) -> Any:
        with read_connection(self._engine, self._url) as conn:
            return fn(conn)

    def find_users(
        self,
        *,
        text: str | None = None,
        email: str | None = None,
        access_role: str | None = None,
        role: str | None = None,
        manager_id: int | None = None,
        status: UserStatus = "active",
        limit: int = 50,
        offset: int = 0,
    ) -> RosterPage:
        """Users by Harvest id. ``text``: part of "first last" or of the email, any case;
        ``email``: exact, any case; ``manager_id``: that manager's teammates only."""
        query = self._store._user_query(  # the same filters as Store.list_users
            select(*USER_RECORD_COLUMNS),
            self.connection_id,
            email=email,
            name_contains=None,
            access_role=access_role,
            role=role,
            active={"active": True, "archived": False}.get(status),
            include_deleted=status == "deleted",
        )
        if status == "deleted":
            query = query.where(USERS.c.deleted_at.is_not(None))
        if text and text.strip():
            needle = text.strip()
            full_name = USERS.c.first_name + " " + USERS.c.last_name
            query = query.where(
                or_(
                    full_name.icontains(needle, autoescape=True),
                    USERS.c.email_lower.contains(normalize_email(needle), autoescape=True),
                )
            )
        if manager_id is not None:
            team = select(TEAMMATES.c.teammate_id).where(
                TEAMMATES.c.connection_id == self.connection_id,
                TEAMMATES.c.manager_id == manager_id,
            )
            query = query.where(USERS.c.harvest_id.in_(team))
        counted = select(func.count()).select_from(query.subquery())
        page = query.order_by(USERS.c.harvest_id).limit(limit).offset(offset)

        def run(conn: SAConnection) -> RosterPage:
            total = int(conn.execute(counted).scalar_one())
            users = [StoredUser(*row) for row in conn.execute(page)] if limit > 0 else []
            return RosterPage(users, total, offset)

        result: RosterPage = self._read(run)
        return result

    def users_by_id(self, harvest_ids: Iterable[int]) -> dict[int, StoredUser]:
        """The live (not deleted) users among ``harvest_ids``, by id."""
        ids = sorted(set(harvest_ids))
        if not ids:
            return {}
        query = select(*USER_RECORD_COLUMNS).where(
            USERS.c.connection_id == self.connection_id,
            USERS.c.harvest_id.in_(ids),
            USERS.c.deleted_at.is_(None),
        )
        rows = self._read(lambda conn: list(conn.execute(query)))
        return {row.harvest_id: StoredUser(*row) for row in rows}

    def managers_of(self, user_id: int) -> list[int]:
        """The people managers who have ``user_id`` among their teammates, ascending."""
        query = (
            select(TEAMMATES.c.manager_id)
            .where(TEAMMATES.c.connection_id == self.connection_id, TEAMMATES.c.teammate_id == user_id)
            .order_by(TEAMMATES.c.manager_id)
        )
        result: list[int] = self._read(lambda conn: list(conn.execute(query).scalars()))
        return result

    def summary(self) -> dict[str, Any]:
        """Head counts: users by status; active users by access role and by business role."""
        query = select(
            USERS.c.is_active, USERS.c.deleted_at.is_not(None), USERS.c.access_roles, USERS.c.roles
        ).where(USERS.c.connection_id == self.connection_id)
        statuses: Counter[str] = Counter()
        access: Counter[str] = Counter()
        roles: Counter[str] = Counter()
        for is_active, deleted, access_roles, business in self._read(lambda c: list(c.execute(query))):
            status = "deleted" if deleted else ("active" if is_active else "archived")
            statuses[status] += 1
            if status == "active":
                access.update(access_roles or ())
                roles.update(business or ())
        return {
            "by_status": {s: statuses.get(s, 0) for s in ("active", "archived", "deleted")},
            "active_by_access_role": dict(sorted(access.items())),
            "active_by_role": dict(sorted(roles.items())),
        }
