"""The declarative roster: parse and validate a CSV/YAML file, plan against the store, apply.

Planning reads only the store (0 API requests; docs/architecture.md: plans are computed before any write so a
dry run costs nothing). Apply re-plans from a fresh sync, then writes in dependency order through
``WriteThrough``: restores (archived names are frozen, §8.3; updates go through ``edit_user``),
creates, updates, rates, teammate sets (managers exist and are managers by then), roles (after
their members exist), archives.
Apply is idempotent and converges after an interruption: the re-run's sync sees whatever the
interrupted run created, and the client never re-sends an ambiguous create.

Blank cells mean "not managed by the file": the user's current value stays (decision on an
undocumented point; only email, first_name and last_name are required).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr

from thresher._errors import ThresherError
from thresher.harvest import (
    PEOPLE_MANAGER,
    AccessRoleError,
    UnknownTimezoneError,
    UserCreate,
    UserUpdate,
    hours_to_seconds,
    normalize_timezone,
    validate_access_roles,
)
from thresher.store import Store, StoredUser

from ._lifecycle import FROZEN_WHEN_ARCHIVED, edit_user
from ._writes import WriteThrough

__all__ = [
    "COLUMNS",
    "Change",
    "Plan",
    "RosterError",
    "RosterRow",
    "apply_plan",
    "load_roster",
    "make_plan",
]

COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "access_roles",
    "roles",
    "weekly_capacity_hours",
    "timezone",
    "is_contractor",
    "manager_email",
    "billable_rate",
    "cost_rate",
    "active",
)
_EMAIL = TypeAdapter(EmailStr)
# The common ASCII case is checked by pattern (email-validator costs ~0.3 ms a row, most of a
# 10,000-row plan); anything else goes through pydantic's EmailStr, as the request models do.
_ASCII_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


class RosterError(ThresherError):
    """The roster file has problems; ``problems`` lists them as ``(line, message)``."""

    exit_code = 2

    def __init__(self, problems: list[tuple[int, str]], path: str) -> None:
        self.problems = problems
        first = "; ".join(f"line {line}: {msg}" for line, msg in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(
            f"{path} has {len(problems)} bad row(s), so nothing was applied: {first}{more}",
            hint="Fix the rows listed and run the command again.",
        )


@dataclasses.dataclass(frozen=True)
class RosterRow:
    """One validated row; ``None`` fields are not managed by the file."""

    line: int
    email: str
    first_name: str
    last_name: str
    access_roles: tuple[str, ...] | None = None
    roles: tuple[str, ...] | None = None
    weekly_capacity: int | None = None
    timezone: str | None = None
    is_contractor: bool | None = None
    manager_email: str | None = None
    billable_rate: Decimal | None = None
    cost_rate: Decimal | None = None
    active: bool = True

    @property
    def key(self) -> str:
        return self.email.casefold()


def _split(value: str) -> tuple[str, ...]:
    for sep in (";", "|"):
        value = value.replace(sep, ",")
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _bool(value: str, name: str) -> bool:
    low = value.casefold()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _money(value: str, name: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return amount


def _row(line: int, raw: Mapping[str, Any]) -> RosterRow:
    cells = {str(k).strip().casefold(): _text(v) for k, v in raw.items() if k is not None}
    unknown = sorted(set(cells) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}")
    email = cells.get("email", "")
    if not email:
        raise ValueError("email is required")
    if not (email.isascii() and _ASCII_EMAIL.fullmatch(email)):
        try:
            email = str(_EMAIL.validate_python(email))
        except ValidationError:
            raise ValueError(f"{email!r} is not a valid email address") from None
    first, last = cells.get("first_name", ""), cells.get("last_name", "")
    if not first or not last:
        raise ValueError("first_name and last_name are required")
    values: dict[str, Any] = {"line": line, "email": email, "first_name": first, "last_name": last}
    if cells.get("access_roles"):
        try:
            values["access_roles"] = tuple(validate_access_roles(_split(cells["access_roles"])))
        except AccessRoleError as exc:
            raise ValueError(f"invalid access_roles: {exc}") from None
    if cells.get("roles"):
        values["roles"] = _split(cells["roles"])
    if cells.get("weekly_capacity_hours"):
        try:
            values["weekly_capacity"] = hours_to_seconds(cells["weekly_capacity_hours"])
        except ValueError as exc:
            raise ValueError(f"weekly_capacity_hours: {exc}") from None
    if cells.get("timezone"):
        try:
            values["timezone"] = normalize_timezone(cells["timezone"])
        except (UnknownTimezoneError, ValueError):
            raise ValueError(f"unknown timezone {cells['timezone']!r}") from None
    if cells.get("is_contractor"):
        values["is_contractor"] = _bool(cells["is_contractor"], "is_contractor")
    if cells.get("manager_email"):
        values["manager_email"] = cells["manager_email"]
    for name in ("billable_rate", "cost_rate"):
        if cells.get(name):
            values[name] = _money(cells[name], name)
    if cells.get("active"):
        values["active"] = _bool(cells["active"], "active")
    return RosterRow(**values)


def _read(path: Path, text: str) -> list[tuple[int, Mapping[str, Any]]]:
    if path.suffix.casefold() in (".yaml", ".yml"):
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is None:
            return []
        items = node.value if isinstance(node, yaml.SequenceNode) else None
        if items is None and isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == "users" and isinstance(value, yaml.SequenceNode):
                    items = value.value
        if items is None:
            raise RosterError([(1, "expected a list of users (or a 'users:' list)")], str(path))
        rows: list[tuple[int, Mapping[str, Any]]] = []
        for item in items:
            data = yaml.SafeLoader(yaml.serialize(item)).get_single_data()
            line = item.start_mark.line + 1
            rows.append((line, data if isinstance(data, dict) else {"?": data}))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    out: list[tuple[int, Mapping[str, Any]]] = []
    for raw in reader:
        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue
        out.append((reader.line_num, raw))
    return out


def load_roster(
    path: Path, store: Store | None = None, connection_id: int | None = None
) -> list[RosterRow]:
    """Parse and validate the whole file; any problem raises ``RosterError`` listing every bad
    row by line number. Managers must be in the file or in the mirror (``store``)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ThresherError(f"cannot read {path}: {exc.strerror}") from None
    try:
        raw_rows = _read(path, text)
    except yaml.YAMLError as exc:
        raise RosterError([(getattr(getattr(exc, "problem_mark", None), "line", 0) + 1,
                            f"not valid YAML: {exc}")], str(path)) from None
    problems: list[tuple[int, str]] = []
    rows: list[RosterRow] = []
    seen: dict[str, int] = {}
    for line, raw in raw_rows:
        try:
            row = _row(line, raw)
        except ValueError as exc:
            problems.append((line, str(exc)))
            continue
        if row.key in seen:
            problems.append((line, f"duplicate email {row.email} (first on line {seen[row.key]})"))
            continue
        seen[row.key] = line
        rows.append(row)
    by_key = {r.key: r for r in rows}
    for row in rows:
        if row.manager_email is None:
            continue
        if row.manager_email.casefold() == row.key:
            problems.append((row.line, "a user cannot be their own manager"))
            continue
        manager_row = by_key.get(row.manager_email.casefold())
        stored = (
            store.find_user_by_email(connection_id, row.manager_email)
            if store is not None and connection_id is not None
            else None
        )
        if manager_row is None and stored is None:
            problems.append((row.line, f"unknown manager {row.manager_email}"))
            continue
        if manager_row is not None and manager_row.access_roles is not None:
            roles: Sequence[str] = manager_row.access_roles
        elif stored is not None:
            roles = stored.access_roles
        else:
            roles = ("member",)  # Harvest's default for a create without access_roles
        if "manager" not in roles:
            problems.append((row.line, f"manager_email {row.manager_email} is not a manager"))
    if problems:
        raise RosterError(sorted(problems), str(path))
    return rows


# -- plan ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Change:
    """One step of a plan."""

    action: str  # create | update | restore | archive | rate | teammates | role
    email: str  # the user (or manager, or role name for role changes)
    diffs: dict[str, tuple[Any, Any]] = dataclasses.field(default_factory=dict)
    user_id: int | None = None
    body: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": self.email,
            "user_id": self.user_id,
            "changes": {k: {"from": _j(a), "to": _j(b)} for k, (a, b) in self.diffs.items()},
        }


def _j(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | frozenset | set):
        return sorted(str(v) for v in value)
    return value


@dataclasses.dataclass
class Plan:
    changes: list[Change]
    warnings: list[str] = dataclasses.field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.changes:
            counts[c.action] = counts.get(c.action, 0) + 1
        return counts

    @property
    def invitations(self) -> int:
        """Harvest emails an invitation on every create (gotcha 1)."""
        return sum(1 for c in self.changes if c.action == "create")

    def __bool__(self) -> bool:
        return bool(self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.as_dict() for c in self.changes],
            "counts": self.counts(),
            "invitations": self.invitations,
            "warnings": self.warnings,
        }


def _access(roles: Iterable[str]) -> frozenset[str]:
    return frozenset(r for r in roles if r != PEOPLE_MANAGER)


def _money_equal(current: Decimal | None, wanted: Decimal) -> bool:
    return (current or Decimal(0)) == wanted


def make_plan(
    store: Store,
    connection_id: int,
    rows: Sequence[RosterRow],
    *,
    prune: bool = False,
    own_user_id: int | None = None,
) -> Plan:
    """Compare the file with the mirror: no Harvest request."""
    users = store.list_users(connection_id)
    by_email = {u.email.casefold(): u for u in users}
    plan = Plan([])
    creates, restores, updates, rates, archives = [], [], [], [], []
    for row in rows:
        current = by_email.get(row.key)
        if current is None:
            body: dict[str, Any] = {
                "email": row.email, "first_name": row.first_name, "last_name": row.last_name,
            }
            optional = {
                "access_roles": list(row.access_roles) if row.access_roles else None,
                "weekly_capacity": row.weekly_capacity, "timezone": row.timezone,
                "is_contractor": row.is_contractor, "default_hourly_rate": row.billable_rate,
                "cost_rate": row.cost_rate, "is_active": False if not row.active else None,
            }
            body.update({k: v for k, v in optional.items() if v is not None})
            diffs = {k: (None, v) for k, v in body.items() if k != "email"}
            creates.append(Change("create", row.email, diffs, body=body))
            continue
        uid = current.harvest_id
        if row.active and not current.is_active:
            restores.append(Change("restore", row.email, {"active": (False, True)}, uid))
        diffs = _field_diffs(row, current)
        if diffs and not current.is_active and not row.active:
            # A user the file keeps archived is not restored to be renamed (the SCIM bridge
            # does that through edit_user): the frozen fields wait, with a warning.
            frozen = [k for k in diffs if k in FROZEN_WHEN_ARCHIVED]
            if frozen:
                plan.warnings.append(
                    f"{row.email} is archived and stays archived: Harvest freezes "
                    f"{', '.join(frozen)} of archived users, so those are left unchanged"
                )
                for key in frozen:
                    diffs.pop(key)
        if diffs:
            updates.append(Change("update", row.email, diffs, uid,
                                  body={k: _wire(k, v[1]) for k, v in diffs.items()}))
        if row.billable_rate is not None and not _money_equal(current.default_hourly_rate, row.billable_rate):
            rates.append(Change("rate", row.email,
                                {"billable_rate": (current.default_hourly_rate, row.billable_rate)}, uid))
        if row.cost_rate is not None and not _money_equal(current.cost_rate, row.cost_rate):
            rates.append(Change("rate", row.email, {"cost_rate": (current.cost_rate, row.cost_rate)}, uid))
        if not row.active and current.is_active:
            if uid == own_user_id:
                plan.warnings.append(f"{row.email} owns the token in use and is never archived")
            else:
                archives.append(Change("archive", row.email, {"active": (True, False)}, uid))
    if prune:
        if own_user_id is None:
            plan.warnings.append(
                "the token's own user is never archived; this connection has not recorded who "
                "that is, so 'apply' asks Harvest and skips them even if listed here"
            )
        in_file = {r.key for r in rows}
        for u in users:
            if u.is_active and u.email.casefold() not in in_file:
                if u.harvest_id == own_user_id:
                    plan.warnings.append(f"{u.email} owns the token in use and is never pruned")
                    continue
                archives.append(Change("archive", u.email, {"active": (True, False)}, u.harvest_id))
    plan.changes = [*restores, *creates, *updates, *rates, *_teammates(store, connection_id, rows, by_email),
                    *_roles(store, connection_id, rows, by_email), *archives]
    return plan


def _wire(key: str, value: Any) -> Any:
    if key == "access_roles":
        return sorted(value, key=lambda r: (r not in ("administrator", "manager", "member"), r))
    return value


def _field_diffs(row: RosterRow, current: StoredUser) -> dict[str, tuple[Any, Any]]:
    diffs: dict[str, tuple[Any, Any]] = {}
    if row.first_name != current.first_name:
        diffs["first_name"] = (current.first_name, row.first_name)
    if row.last_name != current.last_name:
        diffs["last_name"] = (current.last_name, row.last_name)
    if row.access_roles is not None and _access(row.access_roles) != _access(current.access_roles):
        diffs["access_roles"] = (_access(current.access_roles), frozenset(row.access_roles))
    if row.weekly_capacity is not None and row.weekly_capacity != current.weekly_capacity:
        diffs["weekly_capacity"] = (current.weekly_capacity, row.weekly_capacity)
    if row.timezone is not None and row.timezone != current.timezone:
        diffs["timezone"] = (current.timezone, row.timezone)
    if row.is_contractor is not None and row.is_contractor != current.is_contractor:
        diffs["is_contractor"] = (current.is_contractor, row.is_contractor)
    return diffs


def _teammates(
    store: Store, connection_id: int, rows: Sequence[RosterRow], by_email: Mapping[str, StoredUser]
) -> list[Change]:
    """Per manager: keep teammates the file does not place elsewhere, add those it places here."""
    managed = {r.key: r.manager_email.casefold() for r in rows if r.manager_email}
    if not managed:
        return []  # the file places nobody: every team stays as it is
    managers = set(managed.values())
    for u in by_email.values():
        if PEOPLE_MANAGER in u.access_roles:
            managers.add(u.email.casefold())
    ids = {u.harvest_id: k for k, u in by_email.items()}
    changes: list[Change] = []
    for manager in sorted(managers):
        stored_manager = by_email.get(manager)
        current = (
            {ids.get(t, f"#{t}") for t in store.get_teammates(connection_id, stored_manager.harvest_id)}
            if stored_manager else set()
        )
        wanted = {k for k in current if managed.get(k, manager) == manager}
        wanted |= {k for k, m in managed.items() if m == manager}
        if wanted != current:
            changes.append(Change(
                "teammates", manager, {"teammates": (frozenset(current), frozenset(wanted))},
                stored_manager.harvest_id if stored_manager else None,
            ))
    return changes


def _roles(
    store: Store, connection_id: int, rows: Sequence[RosterRow], by_email: Mapping[str, StoredUser]
) -> list[Change]:
    """Per role named in the file: members the file lists it for, plus members it does not manage."""
    ids = {u.harvest_id: k for k, u in by_email.items()}
    # Role names compare without case, as Harvest's uniqueness does (a second "crew" is refused).
    existing = {r.name.casefold(): r for r in store.list_roles(connection_id)}
    spelled: dict[str, str] = {}
    managed: dict[str, set[str]] = {}
    for row in rows:
        if row.roles is not None:
            managed[row.key] = {n.casefold() for n in row.roles}
            for name in row.roles:
                spelled.setdefault(name.casefold(), name)
    names = {n for roles in managed.values() for n in roles}
    names |= {n for n, role in existing.items() if any(ids.get(u) in managed for u in role.user_ids)}
    changes: list[Change] = []
    for name in sorted(names):
        role = existing.get(name)
        current = {ids.get(u, f"#{u}") for u in role.user_ids} if role else set()
        wanted = {k for k in current if k not in managed} | {k for k, rs in managed.items() if name in rs}
        if role is None or wanted != current:
            changes.append(Change(
                "role", role.name if role else spelled[name],
                {"members": (frozenset(current), frozenset(wanted))},
                role.harvest_id if role else None,
            ))
    return changes


# -- apply -----------------------------------------------------------------------------------

Progress = Callable[[int, int], None]


async def apply_plan(
    writes: WriteThrough, plan: Plan, *, concurrency: int = 32, progress: Progress | None = None
) -> dict[str, int]:
    """Carry out ``plan`` in dependency order; independent writes of one stage run together (the
    client's shared limiter paces them to Harvest's rate limit)."""
    total, done = len(plan.changes), 0
    applied: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    conn_id = writes.connection.id

    def user_id(email: str) -> int:
        if email.startswith("#"):
            return int(email[1:])
        found = writes.store.find_user_by_email(conn_id, email)
        if found is None:  # pragma: no cover - created earlier in this apply
            raise ThresherError(f"{email} is not in the mirror after its create")
        return found.harvest_id

    async def run(change: Change) -> None:
        nonlocal done
        async with gate:
            await _one(writes, change, user_id)
        applied[change.action] = applied.get(change.action, 0) + 1
        done += 1
        if progress is not None:
            progress(done, total)

    stages = ("restore", "create", "update", "rate", "teammates", "role", "archive")
    for stage in stages:
        batch = [c for c in plan.changes if c.action == stage]
        if batch:
            await asyncio.gather(*(run(c) for c in batch))
    return applied


async def _one(writes: WriteThrough, change: Change, user_id: Callable[[str], int]) -> None:
    uid = change.user_id
    if change.action == "create":
        await writes.create_user(UserCreate.model_validate(change.body))
    elif change.action == "restore":
        assert uid is not None
        await writes.restore_user(uid)
    elif change.action == "archive":
        assert uid is not None
        await writes.archive_user(uid)
    elif change.action == "update":
        assert uid is not None
        # The restores ran in an earlier stage, so edit_user restores nobody here; it still
        # holds the rule should a plan ever ask to rename a user who is archived.
        body = UserUpdate.model_validate(change.body)
        current = writes.store.get_user(writes.connection.id, uid)
        if current is None:  # pragma: no cover - the plan was made from the mirror just now
            await writes.update_user(uid, body)
        else:
            await edit_user(writes, current, body)
    elif change.action == "rate":
        assert uid is not None
        for key, (_, amount) in change.diffs.items():
            if key == "billable_rate":
                await writes.create_billable_rate(uid, amount)
            else:
                await writes.create_cost_rate(uid, amount)
    elif change.action == "teammates":
        manager = uid if uid is not None else user_id(change.email)
        wanted = change.diffs["teammates"][1]
        await writes.set_teammates(manager, sorted(user_id(k) for k in wanted))
    elif change.action == "role":
        members = sorted(user_id(k) for k in change.diffs["members"][1])
        if uid is None:
            await writes.create_role(change.email, members)
        else:
            await writes.update_role(uid, user_ids=members)
