"""The read tools: answered from the roster mirror (no Harvest request), except ``user_hours``
and ``get_user(live=True)``, which read what the mirror does not keep."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

from thresher.harvest import PEOPLE_MANAGER
from thresher.store import EVENT_KINDS, StoredUser, UserStatus

from ._context import McpContext
from ._errors import McpError

__all__ = ["ReadTools", "brief", "parse_since"]

_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def brief(user: StoredUser) -> dict[str, Any]:
    """A user in a list: enough to recognise and pick them."""
    return {
        "id": user.harvest_id,
        "name": user.full_name,
        "email": user.email,
        "status": user.status,
        "access_roles": list(user.access_roles),
        "roles": list(user.roles),
    }


def parse_since(value: str | None, now: dt.datetime) -> dt.datetime:
    """``7d``, ``24h``, ``30m``, ``2w``, an ISO date or an ISO datetime (UTC when no offset)."""
    if value is None or not value.strip():
        return now - dt.timedelta(days=7)
    relative = _RELATIVE.match(value)
    if relative:
        return now - dt.timedelta(**{_UNITS[relative[2].lower()]: int(relative[1])})
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise McpError(
            f"since={value!r} is neither a duration nor an ISO date",
            hint="Use e.g. '7d', '24h', '2026-01-31' or '2026-01-31T09:00:00Z'.",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _date(value: str | None, default: dt.date, what: str) -> dt.date:
    if value is None or not value.strip():
        return default
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise McpError(f"{what}={value!r} is not a date", hint="Use YYYY-MM-DD.") from None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


class ReadTools:
    """Each method is one tool; each answer carries ``mirror`` (how fresh the data is)."""

    def __init__(self, ctx: McpContext) -> None:
        self.ctx = ctx

    async def find_users(
        self,
        *,
        query: str | None = None,
        email: str | None = None,
        access_role: str | None = None,
        role: str | None = None,
        manager: str | None = None,
        status: UserStatus = "active",
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        manager_id = self.ctx.user(manager).harvest_id if manager else None
        page = self.ctx.index.find(
            text=query,
            email=email,
            access_role=access_role,
            role=role,
            manager_id=manager_id,
            status=status,
            limit=max(0, min(limit, 500)),
            offset=max(0, offset),
        )
        shown = page.offset + len(page.users)
        return {
            "users": [brief(u) for u in page.users],
            "total": page.total,
            "offset": page.offset,
            "next_offset": shown if shown < page.total else None,
            "mirror": mirror,
        }

    async def get_user(self, user: str, live: bool = False) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        ctx = self.ctx
        profile = ctx.profile(user)
        found = profile.user
        uid = found.harvest_id
        out: dict[str, Any] = {
            "user": found.as_dict(),
            "managers": [brief(m) for m in profile.managers],
            "teammates": [brief(t) for t in profile.teammates],
            "roles": [{"id": rid, "name": name} for rid, name in profile.roles],
            "rates": {
                "default_hourly_rate": _money(found.default_hourly_rate),
                "cost_rate": _money(found.cost_rate),
            },
            "mirror": mirror,
        }
        if live:
            out["project_assignments"] = [
                {
                    "project": a.project.name,
                    "project_id": a.project.id,
                    "is_active": a.is_active,
                    "is_project_manager": a.is_project_manager,
                }
                async for a in ctx.client.list_project_assignments(uid)
            ]
            out.update(await self.removal(uid))
        else:
            out["project_assignments"] = None
            out["has_hours"] = None
            out["note"] = (
                "project_assignments and has_hours come from Harvest: call get_user with "
                "live=true (three requests) to read them"
            )
        return out

    async def removal(self, user_id: int) -> dict[str, Any]:
        """Whether Harvest would let the user be deleted (no time, no expenses: §6.4)."""
        client = self.ctx.client
        has_hours = False
        async for _ in client.list_time_entries(user_id=user_id):
            has_hours = True
            break
        has_expenses = False
        async for _ in client.list_expenses(user_id=user_id):
            has_expenses = True
            break
        return {
            "has_hours": has_hours,
            "has_expenses": has_expenses,
            "can_delete": not (has_hours or has_expenses),
        }

    async def list_changes(
        self, since: str | None = None, kind: str | None = None, user: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        if kind is not None and kind not in EVENT_KINDS:
            raise McpError(f"unknown change kind {kind!r}", hint=f"Use one of: {', '.join(EVENT_KINDS)}.")
        start = parse_since(since, dt.datetime.now(dt.UTC))
        harvest_id = self.ctx.user(user).harvest_id if user else None
        events = self.ctx.store.list_events(
            self.ctx.connection.id,
            since=start,
            kind=kind,
            harvest_id=harvest_id,
            limit=max(1, min(limit, 1000)),
            newest_first=True,
        )
        ids = {e.harvest_id for e in events if e.resource == "user"}
        people = self.ctx.index.users_by_id(ids)
        changes = []
        for e in events:
            item = e.as_dict()
            who = people.get(e.harvest_id) if e.resource == "user" else None
            if who is not None:
                item["email"] = who.email
            changes.append(item)
        return {"since": start.isoformat(), "changes": changes, "mirror": mirror}

    async def roster_summary(self) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        return {"connection": self.ctx.connection.name, **self.ctx.roster.summary(), "mirror": mirror}

    async def who_reports_to(self, manager: str, indirect: bool = False) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        ctx = self.ctx
        boss = ctx.user(manager)
        seen = {boss.harvest_id}
        levels: dict[int, int] = {}
        frontier, depth = [boss.harvest_id], 1
        while frontier:
            following = []
            for mid in frontier:
                for tid in ctx.store.get_teammates(ctx.connection.id, mid):
                    if tid not in seen:
                        seen.add(tid)
                        levels[tid] = depth
                        following.append(tid)
            if not indirect:
                break
            frontier, depth = following, depth + 1
        people = ctx.index.users_by_id(levels)
        reports = [{**brief(people[t]), "level": levels[t]} for t in sorted(levels) if t in people]
        out: dict[str, Any] = {"manager": brief(boss), "reports": reports, "mirror": mirror}
        if PEOPLE_MANAGER not in boss.access_roles and not reports:
            out["note"] = f"{boss.email} is not a people manager in Harvest, so nobody reports to them"
        return out

    async def list_roles(self) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        ctx = self.ctx
        roles = ctx.store.list_roles(ctx.connection.id)
        people = ctx.index.users_by_id(uid for r in roles for uid in r.user_ids)
        return {
            "roles": [
                {
                    "id": r.harvest_id,
                    "name": r.name,
                    "members": [people[u].email for u in r.user_ids if u in people],
                }
                for r in roles
            ],
            "mirror": mirror,
        }

    async def user_hours(
        self, user: str | None = None, from_date: str | None = None, to_date: str | None = None
    ) -> dict[str, Any]:
        today = dt.datetime.now(dt.UTC).date()
        end = _date(to_date, today, "to_date")
        start = _date(from_date, end - dt.timedelta(days=30), "from_date")
        if end < start:
            raise McpError(f"to_date {end} is before from_date {start}", hint="Swap the dates.")
        period = {"from": start.isoformat(), "to": end.isoformat()}
        client = self.ctx.client
        if user is None:
            rows = await client.team_time_report(start, end)
            return {
                "period": period,
                "users": [
                    {
                        "user_id": r.user_id,
                        "name": r.user_name,
                        "total_hours": float(r.total_hours),
                        "billable_hours": None if r.billable_hours is None else float(r.billable_hours),
                    }
                    for r in sorted(rows, key=lambda r: -r.total_hours)
                ],
                "source": "GET /v2/reports/time/team",
            }
        who = self.ctx.user(user)
        total = Decimal(0)
        billable = Decimal(0)
        by_project: dict[str, Decimal] = defaultdict(Decimal)
        entries = 0
        async for entry in client.list_time_entries(user_id=who.harvest_id, from_=start, to=end):
            entries += 1
            total += entry.hours
            by_project[entry.project.name] += entry.hours
            if entry.billable:
                billable += entry.hours
        return {
            "user": brief(who),
            "period": period,
            "total_hours": float(total),
            "billable_hours": float(billable),
            "entries": entries,
            "by_project": {k: float(v) for k, v in sorted(by_project.items(), key=lambda kv: -kv[1])},
            "source": "GET /v2/time_entries",
        }
