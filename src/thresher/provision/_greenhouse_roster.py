"""The declarative roster for a Greenhouse Recruiting connection (docs/greenhouse.md §6).

The same file rules as Harvest's roster (``_roster_file``: encodings, delimiters, size limits,
every bad row reported by line, blank cells left alone) with Greenhouse's own column set:
``email, first_name, last_name, employee_id, job_title, active``. Plans are ``Plan``s of
``create``, ``activate``, ``update`` and ``deactivate`` changes, computed from the mirror alone
with the same prune guard; apply writes through an ``AsyncGreenhouse`` and records each result
in the mirror at once (``thresher.store.apply_greenhouse_users``, source ``write``).

What the roster leaves alone, by Greenhouse's API: Site Admin cannot be granted by a v3 user
write (only removed, with every permission, by ``revoke_permissions``), so there is no
``site_admin`` column; creates send no invitation email (``send_email_invite`` false).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from thresher._errors import ThresherError
from thresher.greenhouse import AsyncGreenhouse, UnprocessableError, UserCreate, UserUpdate
from thresher.greenhouse import User as GreenhouseUser
from thresher.store import Store, StoredConnection, apply_greenhouse_users, greenhouse_fields

from ._roster import Change, Plan, PruneRefusedError, default_max_archive
from ._roster_file import (
    _ASCII_EMAIL,
    _EMAIL,
    MAX_CELL_CHARS,
    RosterError,
    _bool,
    _decode,
    _read,
    _text,
    email_key,
)

__all__ = [
    "GREENHOUSE_COLUMNS",
    "GreenhouseRosterRow",
    "apply_greenhouse_plan",
    "load_greenhouse_roster",
    "make_greenhouse_plan",
]

GREENHOUSE_COLUMNS = ("email", "first_name", "last_name", "employee_id", "job_title", "active")
#: Stages in the order apply runs them.
STAGES = ("activate", "create", "update", "deactivate")
_MANAGED = ("first_name", "last_name", "employee_id", "job_title")
#: The managed fields kept in ``greenhouse_users`` rather than the shared ``users`` table (a
#: saved plan's basis reads them there: ``_saved_plan.GREENHOUSE_BASIS``).
GREENHOUSE_MANAGED_EXTRA = ("employee_id", "job_title")


@dataclasses.dataclass(frozen=True)
class GreenhouseRosterRow:
    """One validated row; ``None`` fields are not managed by the file."""

    line: int
    email: str
    first_name: str
    last_name: str
    employee_id: str | None = None
    job_title: str | None = None
    active: bool = True

    @property
    def key(self) -> str:
        return email_key(self.email)


def _row(line: int, raw: Mapping[str, Any]) -> GreenhouseRosterRow:
    cells = {str(k).strip().casefold(): _text(v) for k, v in raw.items() if k is not None}
    for name, value in cells.items():
        if len(value) > MAX_CELL_CHARS:
            raise ValueError(f"the {name[:40]} cell is over the {MAX_CELL_CHARS:,} character limit")
    unknown = sorted(set(cells) - set(GREENHOUSE_COLUMNS))
    if unknown:
        raise ValueError(
            f"unknown column(s) {', '.join(unknown)} (a Greenhouse roster has "
            f"{', '.join(GREENHOUSE_COLUMNS)})"
        )
    email = cells.get("email", "")
    if not email:
        raise ValueError("email is required")
    if not (email.isascii() and _ASCII_EMAIL.fullmatch(email)):
        try:
            email = str(_EMAIL.validate_python(email))
        except ValueError:
            raise ValueError(f"{email!r} is not a valid email address") from None
    first, last = cells.get("first_name", ""), cells.get("last_name", "")
    if not first or not last:
        raise ValueError("first_name and last_name are required")
    values: dict[str, Any] = {"line": line, "email": email, "first_name": first, "last_name": last}
    for name in ("employee_id", "job_title"):
        if cells.get(name):
            values[name] = cells[name]
    if cells.get("active"):
        values["active"] = _bool(cells["active"], "active")
    return GreenhouseRosterRow(**values)


def load_greenhouse_roster(path: Path) -> list[GreenhouseRosterRow]:
    """Parse and validate the whole file; any problem raises ``RosterError`` listing every bad
    row by line number."""
    text = _decode(path)
    try:
        raw_rows = _read(path, text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RosterError([(getattr(mark, "line", 0) + 1, f"not valid YAML: {exc}")], str(path)) from None
    problems: list[tuple[int, str]] = []
    rows: list[GreenhouseRosterRow] = []
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
    if problems:
        raise RosterError(sorted(problems), str(path))
    return rows


def make_greenhouse_plan(
    store: Store,
    connection_id: int,
    rows: Sequence[GreenhouseRosterRow],
    *,
    prune: bool = False,
    own_user_id: int | None = None,
    max_archive: int | None = None,
) -> Plan:
    """Compare the file with the mirror (no request). ``own_user_id``: the ``sub`` the
    connection acts as, never deactivated. A prune is guarded as Harvest's (``make_plan``)."""
    if prune and not rows:
        raise PruneRefusedError(
            "the roster file lists nobody, and --prune would deactivate every active user",
            hint="Check the export that produced the file; nothing was planned.",
        )
    users = [u for u in store.list_users(connection_id) if u.email]
    extra = greenhouse_fields(store, connection_id)
    by_email = {email_key(u.email): u for u in users}
    plan = Plan([])
    activates, creates, updates, deactivates = [], [], [], []
    for row in rows:
        current = by_email.get(row.key)
        if current is None:
            body: dict[str, Any] = {
                "email": row.email,
                "first_name": row.first_name,
                "last_name": row.last_name,
            }
            body.update({k: v for k in ("employee_id", "job_title") if (v := getattr(row, k)) is not None})
            if not row.active:
                body["active"] = False
            diffs0 = {k: (None, v) for k, v in body.items() if k != "email"}
            creates.append(Change("create", row.email, diffs0, body=body))
            continue
        uid = current.harvest_id
        have = {
            "first_name": current.first_name,
            "last_name": current.last_name,
            **{k: extra.get(uid, {}).get(k) for k in ("employee_id", "job_title")},
        }
        diffs = {
            k: (have[k], getattr(row, k))
            for k in _MANAGED
            if getattr(row, k) is not None and getattr(row, k) != have[k]
        }
        if row.active and not current.is_active:
            activates.append(Change("activate", row.email, {"active": (False, True)}, uid))
        if diffs:
            updates.append(Change("update", row.email, diffs, uid, body={k: v[1] for k, v in diffs.items()}))
        if not row.active and current.is_active:
            if uid == own_user_id:
                plan.warnings.append(
                    f"{row.email} is marked inactive in the file but is the user the connection "
                    "acts as; left active"
                )
            else:
                deactivates.append(Change("deactivate", row.email, {"active": (True, False)}, uid))
    if prune:
        in_file = {r.key for r in rows}
        for u in users:
            if u.is_active and email_key(u.email) not in in_file and u.harvest_id != own_user_id:
                gone = Change("deactivate", u.email, {"active": (True, False)}, u.harvest_id)
                deactivates.append(gone)
    active = sum(1 for u in users if u.is_active)
    limit = default_max_archive(active) if max_archive is None else max_archive
    if prune and len(deactivates) > limit:
        raise PruneRefusedError(
            f"this prune would deactivate {len(deactivates)} of {active} active users, more than "
            f"the limit of {limit}; nothing was planned",
            hint=f"If that is intended, pass --max-archive {len(deactivates)}.",
        )
    plan.changes = [*activates, *creates, *updates, *deactivates]
    return plan


#: ``progress(done, total)`` after each change.
Progress = Callable[[int, int], None]


async def apply_greenhouse_plan(
    client: AsyncGreenhouse,
    store: Store,
    connection: StoredConnection,
    plan: Plan,
    *,
    concurrency: int = 8,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Carry out ``plan`` stage by stage (activations, creates, updates, deactivations); each
    result is recorded in the mirror as it lands. Returns what was done, by kind, plus
    ``adopted`` (a create whose email Greenhouse already had: that user is updated instead)."""
    total, done = len(plan.changes), 0
    applied: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)

    def record(user: GreenhouseUser) -> None:
        with store.transaction() as tx:
            now = dt.datetime.now(dt.UTC)
            apply_greenhouse_users(tx, connection.id, [user], observed_at=now, source="write")

    async def run(change: Change) -> None:
        nonlocal done
        async with gate:
            outcome, user = await _one(client, change)
        await asyncio.to_thread(record, user)
        applied[outcome] = applied.get(outcome, 0) + 1
        done += 1
        if progress is not None:
            progress(done, total)

    for stage in STAGES:
        batch = [c for c in plan.changes if c.action == stage]
        if batch:
            await asyncio.gather(*(run(c) for c in batch))
    return applied


async def _one(client: AsyncGreenhouse, change: Change) -> tuple[str, GreenhouseUser]:
    uid = change.user_id
    if change.action == "create":
        body = {k: v for k, v in change.body.items() if k != "active"}
        try:
            user = await client.create_user(UserCreate.model_validate(body))
            outcome = "create"
        except UnprocessableError:
            # The email exists in Greenhouse already (created out of band since the mirror was
            # read): adopt that user and bring it to the row, as Harvest's roster does.
            found = [u async for u in client.list_users(primary_email=change.email, per_page=1)]
            if not found:
                raise
            user, outcome = found[0], "adopted"
            changes = {k: v for k, v in body.items() if k != "email" and getattr(user, k, None) != v}
            if changes:
                user = await client.update_user(user.id, UserUpdate.model_validate(changes))
        if change.body.get("active") is False and not user.deactivated:
            await client.deactivate_user(user.id)
            user = await client.get_user(user.id)
        return outcome, user
    if uid is None:  # pragma: no cover - plans give every other change its user
        raise ThresherError(f"the plan's {change.action} of {change.email} names no user")
    if change.action == "update":
        return "update", await client.update_user(uid, UserUpdate.model_validate(change.body))
    if change.action == "activate":
        await client.activate_user(uid)
    else:
        await client.deactivate_user(uid)
    return change.action, await client.get_user(uid)
