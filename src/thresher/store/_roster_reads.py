"""Reads of one connection's roster that ``Store`` does not offer, for the MCP server's tools.

Who manages a user (the teammates table read backwards), every teammate pair at once (the MCP
server's in-memory copy of the roster loads them in one statement), users by a set of ids, and
the roster's head counts; plus the records the MCP server answers with (a page of a search, a
user's profile). Each is one or two indexed statements.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Literal

from sqlalchemy import select

from ._database import read_connection
from ._records import StoredUser
from ._store import Store
from ._tables import TEAMMATES, USERS

__all__ = ["RosterPage", "RosterReads", "UserProfile", "UserStatus"]

#: ``any`` includes archived users, never tombstones; ``deleted`` is tombstones only.
UserStatus = Literal["active", "archived", "deleted", "any"]


@dataclasses.dataclass(frozen=True, slots=True)
class RosterPage:
    """One page of a search: ``users`` from ``offset``, of ``total`` matches."""

    users: list[StoredUser]
    total: int
    offset: int


@dataclasses.dataclass(frozen=True, slots=True)
class UserProfile:
    """A user with their reporting lines and business roles, as of one read."""

    user: StoredUser
    managers: list[StoredUser]
    teammates: list[StoredUser]
    #: ``(role id, role name)``, by name.
    roles: list[tuple[int, str]]


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

    def teammate_pairs(self) -> list[tuple[int, int]]:
        """Every ``(manager id, teammate id)`` of the connection, in order."""
        query = (
            select(TEAMMATES.c.manager_id, TEAMMATES.c.teammate_id)
            .where(TEAMMATES.c.connection_id == self.connection_id)
            .order_by(TEAMMATES.c.manager_id, TEAMMATES.c.teammate_id)
        )
        result: list[tuple[int, int]] = self._read(lambda conn: [tuple(r) for r in conn.execute(query)])
        return result

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
