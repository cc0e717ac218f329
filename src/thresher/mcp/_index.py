"""The roster of one connection held in memory for the read tools, reloaded when it changes.

An agent searches by part of a name, by access role, by manager, page after page: answered by
SQL, each such search scans the users table (substring and JSON-list filters use no index) and
costs tens of milliseconds on a 10,000-user mirror. Held here, the same search is a pass over a
list in memory (about a millisecond), and ``get_user`` is a dictionary lookup. The copy is
checked against the change log (``Store.last_event_id``: one indexed read) at most every
``max_lag`` seconds, and at once after this process synced or wrote (``invalidate``): every change
a sync or a write makes to users, roles or teammates is an event, so a new event id means reload,
and no new event means the copy is the mirror.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterable

from thresher.harvest import normalize_email
from thresher.store import RosterPage, RosterReads, Store, StoredUser, UserProfile, UserStatus

__all__ = ["RosterIndex"]


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    user: StoredUser
    #: ``"first last email"``, casefolded.
    haystack: str
    email: str


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    mark: int
    #: Users by status (``any``: active and archived), each list by Harvest id.
    by_status: dict[str, list[_Entry]]
    #: Users (tombstones included) holding an access role, and a business role, by Harvest id.
    by_access_role: dict[str, list[_Entry]]
    by_role: dict[str, list[_Entry]]
    live_by_id: dict[int, StoredUser]
    live_by_email: dict[str, _Entry]
    teams: dict[int, list[int]]
    managers: dict[int, list[int]]
    roles: dict[int, list[tuple[int, str]]]


class RosterIndex:
    """Searches and profiles of one connection's users, from an in-memory copy of the mirror."""

    def __init__(self, store: Store, connection_id: int, *, max_lag: float = 1.0) -> None:
        self.store = store
        self.connection_id = connection_id
        #: Seconds a change another process made may take to show here.
        self.max_lag = max_lag
        self._snapshot: _Snapshot | None = None
        self._checked_at = float("-inf")

    def invalidate(self) -> None:
        """Check the change log on the next use (this process just synced or wrote)."""
        self._checked_at = float("-inf")

    def _current(self) -> _Snapshot:
        now = time.monotonic()
        if self._snapshot is not None and now - self._checked_at < self.max_lag:
            return self._snapshot
        # The mark is read before the rows: a change committed in between shows as a newer mark
        # next time, so the copy may be reloaded once more than needed, never left behind.
        mark = self.store.last_event_id(self.connection_id)
        if self._snapshot is None or self._snapshot.mark != mark:
            self._snapshot = self._load(mark)
        self._checked_at = now
        return self._snapshot

    def _load(self, mark: int) -> _Snapshot:
        cid = self.connection_id
        users = self.store.list_users(cid, include_deleted=True)
        live = [u for u in users if u.deleted_at is None]
        teams: dict[int, list[int]] = defaultdict(list)
        managers: dict[int, list[int]] = defaultdict(list)
        for manager, teammate in RosterReads(self.store, cid).teammate_pairs():
            teams[manager].append(teammate)
            managers[teammate].append(manager)
        roles: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for role in sorted(self.store.list_roles(cid), key=lambda r: r.name):
            for uid in role.user_ids:
                roles[uid].append((role.harvest_id, role.name))
        by_status: dict[str, list[_Entry]] = {"active": [], "archived": [], "deleted": [], "any": []}
        by_access_role: dict[str, list[_Entry]] = defaultdict(list)
        by_role: dict[str, list[_Entry]] = defaultdict(list)
        for u in users:
            entry = _Entry(u, f"{u.first_name} {u.last_name} {u.email}".casefold(), normalize_email(u.email))
            by_status[u.status].append(entry)
            if u.deleted_at is None:
                by_status["any"].append(entry)
            for name in u.access_roles:
                by_access_role[name].append(entry)
            for name in u.roles:
                by_role[name].append(entry)
        return _Snapshot(
            mark=mark,
            by_status=by_status,
            by_access_role=dict(by_access_role),
            by_role=dict(by_role),
            live_by_id={u.harvest_id: u for u in live},
            # Several live users never share an address; the lowest id wins if the mirror says so.
            live_by_email={e.email: e for e in reversed(by_status["any"])},
            teams=dict(teams),
            managers=dict(managers),
            roles=dict(roles),
        )

    def find(
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
        """Users by Harvest id: ``text`` is part of "first last" or of the email, any case;
        ``email`` exact, any case; ``manager_id`` that manager's teammates only."""
        snap = self._current()
        # Start from the smallest list a filter names, then one pass per other filter given.
        if email and status != "deleted":
            entry = snap.live_by_email.get(normalize_email(email))
            live = "any" if entry is None else ("active" if entry.user.is_active else "archived")
            found = [entry] if entry is not None and status in ("any", live) else []
        elif email:
            wanted = normalize_email(email)
            found = [e for e in snap.by_status[status] if e.email == wanted]
        elif role is not None or access_role is not None:
            found = (
                snap.by_role.get(role, [])
                if role is not None
                else snap.by_access_role.get(access_role or "", [])
            )
            found = [
                e for e in found if e.user.status == status or (status == "any" and e.user.deleted_at is None)
            ]
        else:
            found = snap.by_status[status]
        if manager_id is not None:
            team = set(snap.teams.get(manager_id, ()))
            found = [e for e in found if e.user.harvest_id in team]
        if text and text.strip():
            needle = text.strip().casefold()
            found = [e for e in found if needle in e.haystack]
        if access_role is not None:
            found = [e for e in found if access_role in e.user.access_roles]
        if role is not None:
            found = [e for e in found if role in e.user.roles]
        return RosterPage([e.user for e in found[offset : offset + limit]], len(found), offset)

    def profile(self, *, harvest_id: int | None = None, email: str | None = None) -> UserProfile | None:
        """The live user with this id (or email), with managers, teammates and roles."""
        snap = self._current()
        if harvest_id is not None:
            user = snap.live_by_id.get(harvest_id)
        else:
            entry = snap.live_by_email.get(normalize_email(email or ""))
            user = None if entry is None else entry.user
        if user is None:
            return None
        uid = user.harvest_id

        def people(ids: list[int]) -> list[StoredUser]:
            return [snap.live_by_id[i] for i in sorted(ids) if i in snap.live_by_id]

        return UserProfile(
            user, people(snap.managers.get(uid, [])), people(snap.teams.get(uid, [])), snap.roles.get(uid, [])
        )

    def users_by_id(self, ids: Iterable[int]) -> dict[int, StoredUser]:
        snap = self._current()
        return {i: snap.live_by_id[i] for i in ids if i in snap.live_by_id}
