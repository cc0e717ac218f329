"""``SandboxState``: the account's data, its indexes, and every change that keeps them consistent.

HTTP handlers check permissions and validate input; the methods here apply a change and its side
effects (docs/harvest-api.md §6–§7): ``updated_at`` stamps, email and role-name indexes, derived
``people_manager``, rate replacement, auto-assignment to new projects, and the user JSON cache.
Nothing outside this module writes to the indexes.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import operator
from collections import deque
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

from ..harvest import normalize_email
from ._clock import SandboxClock, format_date
from ._collector import collector_paused
from ._records import (
    AccessToken,
    AuthorizationCode,
    Client,
    Company,
    Expense,
    Invitation,
    Project,
    Rate,
    RefreshToken,
    RequestRecord,
    Role,
    Task,
    TaskAssignment,
    TimeEntry,
    User,
    UserAssignment,
)
from ._work_state import WorkRecords

__all__ = ["ID_BASES", "STATE_FORMAT", "RateKind", "SandboxState", "rate_sort_key"]

STATE_FORMAT = "thresher-sandbox-state/1"

RateKind = Literal["billable", "cost"]

#: First id of each kind, near the magnitudes of real Harvest ids (§1: ids need 64 bits; time
#: entries are already past 2**31 in real accounts).
ID_BASES: dict[str, int] = {
    "user": 4_000_001,
    "role": 600_001,
    "client": 5_700_001,
    "task": 8_000_001,
    "project": 14_300_001,
    "task_assignment": 155_000_001,
    "user_assignment": 125_000_001,
    "rate": 1_830_001,
    "time_entry": 2_400_000_001,
    "expense": 15_000_001,
    "invitation": 1,
}


@dataclasses.dataclass(eq=False)
class SandboxState(WorkRecords):
    """Typed in-memory state of one sandbox account, for in-process inspection.

    Read freely (between requests); change it only through its methods or the ``Sandbox`` helpers,
    which keep the indexes and caches right.
    """

    clock: SandboxClock
    account_id: int
    forecast_account_id: int
    company: Company
    users: dict[int, User] = dataclasses.field(default_factory=dict)
    roles: dict[int, Role] = dataclasses.field(default_factory=dict)
    #: Manager id -> teammate ids (sorted); present only for managers with teammates.
    teammates: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    #: User id -> rates, sorted by start_date (None first), oldest first (§7.2).
    billable_rates: dict[int, list[Rate]] = dataclasses.field(default_factory=dict)
    cost_rates: dict[int, list[Rate]] = dataclasses.field(default_factory=dict)
    clients: dict[int, Client] = dataclasses.field(default_factory=dict)
    tasks: dict[int, Task] = dataclasses.field(default_factory=dict)
    projects: dict[int, Project] = dataclasses.field(default_factory=dict)
    user_assignments: dict[int, UserAssignment] = dataclasses.field(default_factory=dict)
    #: User id -> that user's time entries / expenses.
    time_entries: dict[int, list[TimeEntry]] = dataclasses.field(default_factory=dict)
    expenses: dict[int, list[Expense]] = dataclasses.field(default_factory=dict)
    outbox: list[Invitation] = dataclasses.field(default_factory=list)
    #: Invitations dropped from the front of the outbox to keep it within ``outbox_size``.
    outbox_dropped: int = 0
    access_tokens: dict[str, AccessToken] = dataclasses.field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = dataclasses.field(default_factory=dict)
    authorization_codes: dict[str, AuthorizationCode] = dataclasses.field(default_factory=dict)
    next_ids: dict[str, int] = dataclasses.field(default_factory=dict)
    request_log: deque[RequestRecord] = dataclasses.field(default_factory=deque)

    # -- derived indexes (rebuilt by reindex(), never persisted) --------------------------------
    user_ids: list[int] = dataclasses.field(default_factory=list)
    role_ids: list[int] = dataclasses.field(default_factory=list)
    assignment_ids: list[int] = dataclasses.field(default_factory=list)
    email_index: dict[str, int] = dataclasses.field(default_factory=dict)
    role_name_index: dict[str, int] = dataclasses.field(default_factory=dict)
    user_roles: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    assignments_by_user: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    assignments_by_project: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    #: (project id, user id) -> assignment id: one user has one assignment per project (§7.4).
    assignment_pairs: dict[tuple[int, int], int] = dataclasses.field(default_factory=dict)
    active_users: int = 0
    #: Time entries and expenses by id (derived from ``time_entries`` / ``expenses``).
    time_entry_index: dict[int, TimeEntry] = dataclasses.field(default_factory=dict)
    expense_index: dict[int, Expense] = dataclasses.field(default_factory=dict)
    #: ``(spent_date, id)`` of every time entry, ascending: the list's order without a sort.
    time_entry_keys: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    #: Serialized JSON of stopped time entries, emptied by every change to the account (an
    #: entry's JSON embeds its user, project, client, task and assignments).
    time_entry_json: dict[int, bytes] = dataclasses.field(default_factory=dict)
    #: Serialized user JSON, dropped on every change of the user (a 2,000-user page is a join).
    user_json: dict[int, bytes] = dataclasses.field(default_factory=dict)

    # -- ids and lookups --------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    def user_by_email(self, email: str) -> User | None:
        uid = self.email_index.get(normalize_email(email))
        return None if uid is None else self.users[uid]

    def role_names(self, user_id: int) -> list[str]:
        return [self.roles[rid].name for rid in self.user_roles.get(user_id, ())]

    def is_people_manager(self, user_id: int) -> bool:
        return bool(self.teammates.get(user_id))

    def has_time_or_expenses(self, user_id: int, project_id: int | None = None) -> bool:
        entries: Iterable[TimeEntry | Expense]
        for entries in (self.time_entries.get(user_id, ()), self.expenses.get(user_id, ())):
            if any(project_id is None or e.project_id == project_id for e in entries):
                return True
        return False

    def trim_outbox(self, size: int) -> None:
        """Keep the newest ``size`` invitations, counting the ones dropped."""
        excess = len(self.outbox) - size
        if excess > 0:
            del self.outbox[:excess]
            self.outbox_dropped += excess

    # -- users ----------------------------------------------------------------------------------
    def touch_user(self, user: User) -> None:
        """Record a change of ``user``: new ``updated_at``, cached JSON dropped."""
        user.updated_at = self.clock.stamp(user.updated_at)
        self.user_json.pop(user.id, None)

    def add_user(self, user: User) -> None:
        self.users[user.id] = user
        if not self.user_ids or user.id > self.user_ids[-1]:
            self.user_ids.append(user.id)
        else:
            bisect.insort(self.user_ids, user.id)
        self.email_index[normalize_email(user.email)] = user.id
        self.active_users += user.is_active

    def set_email(self, user: User, email: str) -> None:
        del self.email_index[normalize_email(user.email)]
        user.email = email
        self.email_index[normalize_email(email)] = user.id

    def set_active(self, user: User, active: bool) -> None:
        if user.is_active != active:
            self.active_users += 1 if active else -1
            user.is_active = active

    def set_access_roles(self, user: User, roles: list[str]) -> None:
        """§6.3: a user who stops being a manager loses the teammates and ``people_manager``."""
        user.access_roles = roles
        if roles[0] != "manager" and user.id in self.teammates:
            del self.teammates[user.id]

    def delete_user(self, user_id: int) -> User:
        user = self.users.pop(user_id)
        del self.user_ids[bisect.bisect_left(self.user_ids, user_id)]
        del self.email_index[normalize_email(user.email)]
        self.active_users -= user.is_active
        self.user_json.pop(user_id, None)
        self.set_user_roles(user, [], touch=False)
        self.user_roles.pop(user_id, None)
        self.teammates.pop(user_id, None)
        for manager_id in [m for m, ids in self.teammates.items() if user_id in ids]:
            remaining = [t for t in self.teammates[manager_id] if t != user_id]
            self.set_teammates(self.users[manager_id], remaining)
        self.billable_rates.pop(user_id, None)
        self.cost_rates.pop(user_id, None)
        for assignment_id in list(self.assignments_by_user.get(user_id, ())):
            self.delete_assignment(assignment_id)
        self.assignments_by_user.pop(user_id, None)
        for entry in list(self.time_entries.get(user_id, ())):
            self.remove_time_entry(entry)
        self.time_entries.pop(user_id, None)
        for expense in self.expenses.pop(user_id, ()):
            del self.expense_index[expense.id]
        for token in [t for t, a in self.access_tokens.items() if a.user_id == user_id]:
            del self.access_tokens[token]
        for token in [t for t, r in self.refresh_tokens.items() if r.user_id == user_id]:
            del self.refresh_tokens[token]
        return user

    # -- roles ----------------------------------------------------------------------------------
    def add_role(self, name: str) -> Role:
        now = self.clock.stamp()
        role = Role(self.next_id("role"), name, [], now, now)
        self.roles[role.id] = role
        self.role_ids.append(role.id)
        self.role_name_index[name.casefold()] = role.id
        return role

    def rename_role(self, role: Role, name: str) -> None:
        del self.role_name_index[role.name.casefold()]
        role.name = name
        self.role_name_index[name.casefold()] = role.id
        role.updated_at = self.clock.stamp(role.updated_at)
        for uid in role.user_ids:
            self.touch_user(self.users[uid])

    def set_role_users(self, role: Role, user_ids: Iterable[int]) -> None:
        """§7.5: ``user_ids`` replaces the membership; users who gain or lose the role see their
        ``roles`` names change, and their ``updated_at`` moves."""
        new = sorted(set(user_ids))
        old = set(role.user_ids)
        if new == role.user_ids:
            return
        role.user_ids = new
        role.updated_at = self.clock.stamp(role.updated_at)
        for uid in old.symmetric_difference(new):
            held = self.user_roles.setdefault(uid, [])
            if uid in old:
                held.remove(role.id)
            else:
                bisect.insort(held, role.id)
            self.touch_user(self.users[uid])

    def set_user_roles(self, user: User, role_ids: Iterable[int], *, touch: bool = True) -> bool:
        """Make ``user`` hold exactly ``role_ids``; returns whether anything changed."""
        new = sorted(set(role_ids))
        old = self.user_roles.get(user.id, [])
        if new == old:
            return False
        for rid in set(old).symmetric_difference(new):
            role = self.roles[rid]
            if rid in old:
                role.user_ids.remove(user.id)
            else:
                bisect.insort(role.user_ids, user.id)
            role.updated_at = self.clock.stamp(role.updated_at)
        self.user_roles[user.id] = new
        if touch:
            self.touch_user(user)
        return True

    def delete_role(self, role_id: int) -> Role:
        role = self.roles[role_id]
        self.set_role_users(role, [])
        del self.roles[role_id]
        del self.role_ids[bisect.bisect_left(self.role_ids, role_id)]
        del self.role_name_index[role.name.casefold()]
        return role

    # -- teammates (§7.1) -----------------------------------------------------------------------
    def set_teammates(self, manager: User, teammate_ids: Iterable[int]) -> bool:
        """Replace the manager's teammates; ``people_manager`` follows (added with the first
        teammates, removed with ``[]``). Returns whether anything changed."""
        new = sorted(set(teammate_ids))
        if new == self.teammates.get(manager.id, []):
            return False
        if new:
            self.teammates[manager.id] = new
        else:
            self.teammates.pop(manager.id, None)
        self.touch_user(manager)
        return True

    # -- rates (§7.2) ---------------------------------------------------------------------------
    def rates(self, kind: RateKind) -> dict[int, list[Rate]]:
        return self.billable_rates if kind == "billable" else self.cost_rates

    def add_rate(self, kind: RateKind, user: User, amount: float, start_date: str | None) -> Rate:
        """No ``start_date`` replaces every rate; a ``start_date`` replaces the rates starting on
        or after it. The user's ``default_hourly_rate`` / ``cost_rate`` becomes the rate in
        effect today."""
        table = self.rates(kind)
        kept = [] if start_date is None else [
            r for r in table.get(user.id, ()) if r.start_date is None or r.start_date < start_date
        ]
        now = self.clock.stamp()
        rate = Rate(self.next_id("rate"), amount, start_date, now, now)
        kept.append(rate)
        kept.sort(key=rate_sort_key)
        table[user.id] = kept
        today = format_date(self.clock.now())
        current = None
        for r in kept:
            if r.start_date is None or r.start_date <= today:
                current = r.amount
        field = "default_hourly_rate" if kind == "billable" else "cost_rate"
        if getattr(user, field) != current:
            setattr(user, field, current)
            self.touch_user(user)
        return rate

    # -- projects and assignments (§7.3, §7.4) --------------------------------------------------
    def add_project(self, project: Project) -> list[UserAssignment]:
        """Add a project; users with ``has_access_to_all_future_projects`` are assigned to it."""
        self.projects[project.id] = project
        assigned = []
        for uid in self.user_ids:
            user = self.users[uid]
            if user.has_access_to_all_future_projects and user.is_active:
                assigned.append(self.assign(project, user, is_project_manager=False))
        return assigned

    def assign(
        self,
        project: Project,
        user: User,
        *,
        is_project_manager: bool,
        is_active: bool = True,
        use_default_rates: bool = True,
        hourly_rate: float | None = None,
        budget: float | None = None,
        created_at: int | None = None,
    ) -> UserAssignment:
        now = self.clock.stamp() if created_at is None else created_at
        assignment = UserAssignment(
            self.next_id("user_assignment"), project.id, user.id, is_active, is_project_manager,
            use_default_rates, hourly_rate, budget, now, now,
        )
        self.add_assignment(assignment)
        return assignment

    def add_assignment(self, assignment: UserAssignment) -> None:
        self.user_assignments[assignment.id] = assignment
        for index, key in (
            (self.assignments_by_user, assignment.user_id),
            (self.assignments_by_project, assignment.project_id),
        ):
            ids = index.setdefault(key, [])
            if not ids or assignment.id > ids[-1]:
                ids.append(assignment.id)
            else:
                bisect.insort(ids, assignment.id)
        if not self.assignment_ids or assignment.id > self.assignment_ids[-1]:
            self.assignment_ids.append(assignment.id)
        else:
            bisect.insort(self.assignment_ids, assignment.id)
        self.assignment_pairs.setdefault((assignment.project_id, assignment.user_id), assignment.id)

    def delete_assignment(self, assignment_id: int) -> UserAssignment:
        assignment = self.user_assignments.pop(assignment_id)
        del self.assignment_ids[bisect.bisect_left(self.assignment_ids, assignment_id)]
        self.assignments_by_user[assignment.user_id].remove(assignment_id)
        self.assignments_by_project[assignment.project_id].remove(assignment_id)
        pair = (assignment.project_id, assignment.user_id)
        if self.assignment_pairs.get(pair) == assignment_id:
            del self.assignment_pairs[pair]
            for other in self.assignments_by_project[assignment.project_id]:
                if self.user_assignments[other].user_id == assignment.user_id:
                    self.assignment_pairs[pair] = other
                    break
        return assignment

    def assignment_for(self, project_id: int, user_id: int) -> UserAssignment | None:
        aid = self.assignment_pairs.get((project_id, user_id))
        return None if aid is None else self.user_assignments[aid]

    def managed_project_ids(self, user_id: int) -> set[int]:
        return {
            self.user_assignments[aid].project_id
            for aid in self.assignments_by_user.get(user_id, ())
            if self.user_assignments[aid].is_project_manager
        }

    # -- persistence ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything but the request log and caches, as orjson-serialisable data. Tables are
        ``{"fields": [...], "rows": [[...], ...]}``: a third of the size of one object per record,
        and quick to read back."""
        with collector_paused():
            return self._to_dict()

    def _to_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "account_id": self.account_id,
            "forecast_account_id": self.forecast_account_id,
            "clock_offset": self.clock.offset,
            "company": self.company,
            "users": _table(User, self.users.values()),
            "roles": _table(Role, self.roles.values()),
            "teammates": [[m, ids] for m, ids in self.teammates.items()],
            "billable_rates": [[u, _table(Rate, rates)] for u, rates in self.billable_rates.items()],
            "cost_rates": [[u, _table(Rate, rates)] for u, rates in self.cost_rates.items()],
            "clients": _table(Client, self.clients.values()),
            "tasks": _table(Task, self.tasks.values()),
            "projects": _table(Project, self.projects.values()),
            "user_assignments": _table(UserAssignment, self.user_assignments.values()),
            "time_entries": _table(TimeEntry, (e for entries in self.time_entries.values() for e in entries)),
            "expenses": _table(Expense, (e for entries in self.expenses.values() for e in entries)),
            "outbox": _table(Invitation, self.outbox),
            "outbox_dropped": self.outbox_dropped,
            "access_tokens": _table(AccessToken, self.access_tokens.values()),
            "refresh_tokens": _table(RefreshToken, self.refresh_tokens.values()),
            "authorization_codes": _table(AuthorizationCode, self.authorization_codes.values()),
            "next_ids": self.next_ids,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], clock: SandboxClock, *, log_size: int) -> SandboxState:
        """Rebuild a state from ``to_dict()`` output (after a JSON round trip); raises
        KeyError/TypeError/ValueError on a malformed document."""
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"unknown state format {found!r}")
        with collector_paused():
            return cls._from_dict(data, clock, log_size)

    @classmethod
    def _from_dict(cls, data: dict[str, Any], clock: SandboxClock, log_size: int) -> SandboxState:
        offset = float(data.get("clock_offset", 0.0))
        if not math.isfinite(offset) or abs(offset) > 100 * 366 * 86400:
            raise ValueError(f"clock_offset {offset!r} is out of range")
        clock.offset = offset
        projects = _rows(Project, data["projects"])
        for project in projects:
            project.task_assignments = [TaskAssignment(**t) for t in project.task_assignments]  # type: ignore[arg-type]
        state = cls(
            clock=clock,
            account_id=int(data["account_id"]),
            forecast_account_id=int(data["forecast_account_id"]),
            company=Company(**data["company"]),
            users={u.id: u for u in _rows(User, data["users"])},
            roles={r.id: r for r in _rows(Role, data["roles"])},
            teammates={int(m): list(ids) for m, ids in data["teammates"]},
            billable_rates={int(u): _rows(Rate, t) for u, t in data["billable_rates"]},
            cost_rates={int(u): _rows(Rate, t) for u, t in data["cost_rates"]},
            clients={c.id: c for c in _rows(Client, data["clients"])},
            tasks={t.id: t for t in _rows(Task, data["tasks"])},
            projects={p.id: p for p in projects},
            outbox=_rows(Invitation, data["outbox"]),
            outbox_dropped=int(data.get("outbox_dropped", 0)),
            access_tokens={t.token: t for t in _rows(AccessToken, data["access_tokens"])},
            refresh_tokens={t.token: t for t in _rows(RefreshToken, data["refresh_tokens"])},
            authorization_codes={c.code: c for c in _rows(AuthorizationCode, data["authorization_codes"])},
            next_ids={str(k): int(v) for k, v in data["next_ids"].items()},
            request_log=deque(maxlen=log_size),
        )
        for entry in _rows(TimeEntry, data["time_entries"]):
            state.time_entries.setdefault(entry.user_id, []).append(entry)
        for expense in _rows(Expense, data["expenses"]):
            state.expenses.setdefault(expense.user_id, []).append(expense)
        state.reindex()
        state.index_work()
        for assignment in _rows(UserAssignment, data["user_assignments"]):
            state.add_assignment(assignment)
        return state

    def reindex(self) -> None:
        """Rebuild the user and role indexes from ``users`` and ``roles``."""
        self.user_ids = sorted(self.users)
        self.role_ids = sorted(self.roles)
        self.email_index = {normalize_email(u.email): u.id for u in self.users.values()}
        self.role_name_index = {r.name.casefold(): r.id for r in self.roles.values()}
        self.active_users = sum(u.is_active for u in self.users.values())
        self.user_roles = {}
        for rid in self.role_ids:
            for uid in self.roles[rid].user_ids:
                self.user_roles.setdefault(uid, []).append(rid)
        self.user_json.clear()


R = TypeVar("R")


def _table(cls: type[Any], records: Iterable[Any]) -> dict[str, Any]:
    names = [f.name for f in dataclasses.fields(cls)]
    get = operator.attrgetter(*names)
    return {"fields": names, "rows": [get(r) for r in records]}


def _rows(cls: type[R], table: dict[str, Any]) -> list[R]:
    """Records from a table; a table written before fields with defaults were added (its fields
    a prefix of the current ones) still loads, the new fields taking their defaults."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = [f.name for f in fields]
    given = table["fields"]
    missing = fields[len(given):]
    if given != names[: len(given)] or any(
        f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in missing
    ):
        raise ValueError(f"{cls.__name__} fields {given} do not match {names}")
    return [cls(*row) for row in table["rows"]]


def rate_sort_key(rate: Rate) -> tuple[str, int]:
    """§7.2: oldest first by start_date; a rate without start_date applies from the beginning."""
    return (rate.start_date or "", rate.id)
