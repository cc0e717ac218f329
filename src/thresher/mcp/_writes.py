"""The write tools: every write is planned first (``plan_*``: the exact changes, nothing sent)
and carried out only by ``apply_plan`` with the plan's confirmation id.

Plans are ``thresher.provision`` roster plans computed against the mirror, kept with their basis
(``plan_basis``): before applying, the mirror is synced and ``check_saved_plan`` refuses the whole
plan if Harvest changed anything it was computed against, exactly as ``thresher apply PLAN.json``
does. The writes then go through ``WriteThrough`` (Harvest first, the mirror from Harvest's
answer, the client's shared rate budget), recorded in the change log with the source ``mcp``.
Offboarding goes through ``provision.offboard``: archive by default; with ``delete``, a delete
that Harvest refuses for a user with time or expenses (docs/harvest-api.md §6.4) archives instead
and says why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml

from thresher._errors import ThresherError
from thresher.harvest import PEOPLE_MANAGER, HarvestError, UserCreate
from thresher.provision import (
    Change,
    Plan,
    PlanStaleError,
    RosterRow,
    SavedPlan,
    check_saved_plan,
    load_roster,
    make_plan,
    offboard,
    plan_basis,
)
from thresher.provision import apply_plan as apply_roster_plan
from thresher.sync import SyncBusyError

from ._context import McpContext
from ._errors import McpError
from ._plans import PendingPlan, PlanKind
from ._reads import ReadTools, brief

__all__ = ["WriteTools"]

RosterFormat = Literal["auto", "csv", "yaml"]


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


class WriteTools:
    """``plan_*`` tools and ``apply_plan``; see the module docstring."""

    def __init__(self, ctx: McpContext) -> None:
        self.ctx = ctx

    # -- rows through the roster's own validation ------------------------------------------

    def _rows(self, text: str, suffix: str) -> list[RosterRow]:
        """Roster rows from text, validated exactly as a roster file is (``load_roster``)."""
        with tempfile.TemporaryDirectory(prefix="thresher-mcp-") as folder:  # mode 0700
            path = Path(folder) / f"roster{suffix}"
            path.write_text(text, encoding="utf-8")
            return load_roster(path, self.ctx.store, self.ctx.connection.id)

    def _one_row(self, cells: dict[str, Any]) -> RosterRow:
        row = {k: c for k, v in cells.items() if (c := _cell(v)) is not None}
        return self._rows(yaml.safe_dump([row], allow_unicode=True), ".yaml")[0]

    def _remember(
        self, kind: PlanKind, plan: Plan, shown: dict[str, Any], *, offboard: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        ctx = self.ctx
        shown = {**shown, **plan.as_dict()}
        if not plan.changes and offboard is None:
            return {**shown, "confirmation_id": None, "note": "nothing to change: Harvest already matches"}
        saved = SavedPlan(
            plan,
            ctx.connection.name,
            ctx.connection.account_id,
            dt.datetime.now(dt.UTC).isoformat(),
            "mcp",
            plan_basis(ctx.store, ctx.connection.id, plan),
        )
        pending = ctx.plans.add(kind, saved, shown, offboard=offboard)
        minutes = int(ctx.plans.ttl.total_seconds() // 60)
        return {
            **shown,
            "confirmation_id": pending.id,
            "expires_at": pending.expires_at.isoformat(),
            "next": f"show these changes to the user; apply_plan with this confirmation_id within "
            f"{minutes} minutes carries them out (refused if Harvest changed meanwhile)",
        }

    # -- plan tools ------------------------------------------------------------------------

    async def plan_create_user(
        self,
        *,
        email: str,
        first_name: str,
        last_name: str,
        access_roles: list[str] | None = None,
        roles: list[str] | None = None,
        weekly_capacity_hours: float | None = None,
        timezone: str | None = None,
        is_contractor: bool | None = None,
        manager_email: str | None = None,
        billable_rate: str | None = None,
        cost_rate: str | None = None,
    ) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        existing = self.ctx.store.find_user_by_email(self.ctx.connection.id, email)
        if existing is not None:
            raise McpError(
                f"{existing.email} is already a Harvest user (id {existing.harvest_id}, {existing.status})",
                hint="Use plan_update_user to change them (active=true restores an archived user).",
            )
        row = self._one_row(
            {
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "access_roles": access_roles,
                "roles": roles,
                "weekly_capacity_hours": weekly_capacity_hours,
                "timezone": timezone,
                "is_contractor": is_contractor,
                "manager_email": manager_email,
                "billable_rate": billable_rate,
                "cost_rate": cost_rate,
            }
        )
        plan = make_plan(self.ctx.store, self.ctx.connection.id, [row])
        for change in plan.changes:
            if change.action == "create":
                UserCreate.model_validate(change.body)  # refused now rather than at apply
        return self._remember(
            "create_user",
            plan,
            {
                "mirror": mirror,
                "note": "Harvest emails an invitation to every user it creates",
            },
        )

    async def plan_update_user(
        self,
        *,
        user: str,
        first_name: str | None = None,
        last_name: str | None = None,
        email: str | None = None,
        access_roles: list[str] | None = None,
        roles: list[str] | None = None,
        weekly_capacity_hours: float | None = None,
        timezone: str | None = None,
        is_contractor: bool | None = None,
        manager_email: str | None = None,
        billable_rate: str | None = None,
        cost_rate: str | None = None,
        active: bool | None = None,
    ) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        current = self.ctx.user(user)
        row = self._one_row(
            {
                "email": current.email,
                "first_name": current.first_name if first_name is None else first_name,
                "last_name": current.last_name if last_name is None else last_name,
                "access_roles": access_roles,
                "roles": roles,
                "weekly_capacity_hours": weekly_capacity_hours,
                "timezone": timezone,
                "is_contractor": is_contractor,
                "manager_email": manager_email,
                "billable_rate": billable_rate,
                "cost_rate": cost_rate,
                "active": current.is_active if active is None else active,
            }
        )
        # The token's own user is never archived (make_plan keeps them active, with a warning).
        own = await self.ctx.own_user_id() if active is False else None
        plan = make_plan(self.ctx.store, self.ctx.connection.id, [row], own_user_id=own)
        if email is not None and email.strip().casefold() != current.email.casefold():
            new_email = self._one_row({"email": email, "first_name": "x", "last_name": "x"}).email
            taken = self.ctx.store.find_user_by_email(self.ctx.connection.id, new_email)
            if taken is not None:
                raise McpError(
                    f"{new_email} already belongs to another Harvest user (id {taken.harvest_id})",
                    hint="Pick an address nobody in the account uses.",
                )
            update = next((c for c in plan.changes if c.action == "update"), None)
            if update is None:
                update = Change("update", current.email, {}, current.harvest_id, {})
                at = next(
                    (i for i, c in enumerate(plan.changes) if c.action not in ("restore", "create")),
                    len(plan.changes),
                )
                plan.changes.insert(at, update)
            update.diffs["email"] = (current.email, new_email)
            update.body["email"] = new_email
        return self._remember("update_user", plan, {"user": brief(current), "mirror": mirror})

    async def plan_set_teammates(self, manager: str, teammates: list[str]) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        ctx = self.ctx
        boss = ctx.user(manager)
        if PEOPLE_MANAGER not in boss.access_roles and "manager" not in boss.access_roles:
            raise McpError(
                f"{boss.email} is not a manager, and Harvest gives teammates only to managers (§7.1)",
                hint="First plan_update_user with access_roles ['manager', 'people_manager'].",
            )
        wanted = {ctx.user(t).email for t in teammates}
        if boss.email in wanted:
            raise McpError(f"{boss.email} cannot be their own teammate", hint="Leave them out of the list.")
        current_ids = ctx.store.get_teammates(ctx.connection.id, boss.harvest_id)
        people = ctx.index.users_by_id(current_ids)
        current = {people[t].email if t in people else f"#{t}" for t in current_ids}
        plan = Plan([])
        if current != wanted:
            plan.changes.append(
                Change(
                    "teammates",
                    boss.email,
                    {"teammates": (frozenset(current), frozenset(wanted))},
                    boss.harvest_id,
                )
            )
        return self._remember("set_teammates", plan, {"manager": brief(boss), "mirror": mirror})

    async def plan_roster(
        self, text: str, format: RosterFormat = "auto", prune: bool = False, max_archive: int | None = None
    ) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        if format == "auto":
            head = text.lstrip()
            format = "yaml" if head.startswith(("-", "users:", "[")) else "csv"
        rows = self._rows(text, ".yaml" if format == "yaml" else ".csv")
        own = await self.ctx.own_user_id()  # never archived, by a prune or an inactive row
        plan = make_plan(
            self.ctx.store,
            self.ctx.connection.id,
            rows,
            prune=prune,
            own_user_id=own,
            max_archive=max_archive,
        )
        return self._remember("roster", plan, {"rows": len(rows), "mirror": mirror})

    async def plan_offboard(
        self, user: str, delete: bool = False, remove_from_teams: bool = True, remove_from_roles: bool = False
    ) -> dict[str, Any]:
        mirror = await self.ctx.fresh()
        ctx = self.ctx
        who = ctx.user(user)
        if who.harvest_id == await ctx.own_user_id():
            raise McpError(
                f"{who.email} owns the token this server uses; thresher never offboards itself",
                hint="Offboard this person with another administrator's connection.",
            )
        uid = who.harvest_id
        plan = Plan([])
        shown: dict[str, Any] = {"user": brief(who), "mirror": mirror}
        if delete:
            removal = await ReadTools(ctx).removal(uid)
            shown["removal"] = removal
            if removal["can_delete"]:
                shown["action"] = "delete"
            else:
                shown["action"] = "archive"
                kept = " and ".join(
                    k for k, v in (("time", removal["has_hours"]), ("expenses", removal["has_expenses"])) if v
                )
                shown["why"] = (
                    f"{who.email} has tracked {kept}, and Harvest refuses to delete a user with time "
                    "or expenses (docs/harvest-api.md §6.4): they will be archived instead, their "
                    "history kept"
                )
        else:
            shown["action"] = "archive" if who.is_active else "none (already archived)"
        if who.is_active or shown["action"] == "delete":
            # An "archive" change whatever the action: the basis then holds the user's fields,
            # so a plan whose user changed in Harvest meanwhile is refused.
            plan.changes.append(Change("archive", who.email, {"active": (who.is_active, False)}, uid))
        if remove_from_teams:
            for mid in ctx.roster.managers_of(uid):
                ids = ctx.store.get_teammates(ctx.connection.id, mid)
                people = ctx.index.users_by_id([mid, *ids])
                emails = {people[t].email if t in people else f"#{t}" for t in ids}
                boss = people[mid].email if mid in people else f"#{mid}"
                plan.changes.append(
                    Change(
                        "teammates",
                        boss,
                        {"teammates": (frozenset(emails), frozenset(emails - {who.email}))},
                        mid,
                    )
                )
        if remove_from_roles:
            for role in ctx.store.list_roles(ctx.connection.id):
                if uid in role.user_ids:
                    plan.changes.append(
                        Change(
                            "role",
                            role.name,
                            {"members": (frozenset([who.email]), frozenset())},
                            role.harvest_id,
                        )
                    )
        if not plan.changes:
            return {**shown, **plan.as_dict(), "confirmation_id": None, "note": "nothing to change"}
        answer = self._remember(
            "offboard",
            plan,
            shown,
            offboard={
                "user_id": uid,
                "delete": shown["action"] == "delete",
                "remove_from_teams": remove_from_teams,
                "remove_from_roles": remove_from_roles,
                "why": shown.get("why"),
            },
        )
        if shown["action"] == "delete":
            answer["changes"][0]["action"] = "delete"
        return answer

    # -- apply -----------------------------------------------------------------------------

    async def apply_plan(self, confirmation_id: str) -> dict[str, Any]:
        ctx = self.ctx
        pending = ctx.plans.take(confirmation_id)
        try:
            # The basis is checked against Harvest as it is now, not as the mirror last saw it.
            await ctx.freshness.refresh(strict=True)
        except (SyncBusyError, ThresherError) as exc:
            raise McpError(
                f"could not read Harvest to check the plan is still current, so nothing was applied: {exc}",
                hint="Try again in a minute with a new plan.",
            ) from None
        try:
            check_saved_plan(ctx.store, ctx.connection, pending.saved, "the plan")
        except PlanStaleError as exc:
            raise McpError(
                "Harvest changed since the plan was made, so nothing was applied: " + "; ".join(exc.moved),
                hint="Make the plan again (it will reflect Harvest as it is now) and review it "
                "before applying.",
            ) from None
        ctx.index.invalidate()
        before = ctx.store.last_event_id(ctx.connection.id)
        try:
            outcome = await self._carry_out(pending)
        except HarvestError as exc:
            ctx.index.invalidate()
            done = ctx.store.list_events(ctx.connection.id, since=before, source="mcp")
            exc.hint = (
                f"{len(done)} change(s) were applied before this one (list_changes shows them); "
                "make a new plan to see what is left. " + (exc.hint or "")
            ).strip()
            raise
        ctx.index.invalidate()
        events = ctx.store.list_events(ctx.connection.id, since=before, source="mcp")
        return {
            "applied": True,
            "kind": pending.kind,
            **outcome,
            "changes_recorded": [e.as_dict() for e in events],
        }

    async def _carry_out(self, pending: PendingPlan) -> dict[str, Any]:
        ctx = self.ctx
        if pending.offboard is None:
            return {"done": await apply_roster_plan(ctx.writes, pending.saved.plan)}
        spec = pending.offboard
        user = await ctx.client.get_user(int(spec["user_id"]))
        result = await offboard(
            ctx.writes,
            user,
            own_user_id=await ctx.own_user_id(),
            delete=bool(spec["delete"]),
            remove_from_teams=bool(spec["remove_from_teams"]),
            remove_from_roles=bool(spec["remove_from_roles"]),
        )
        out: dict[str, Any] = {"offboard": dataclasses.asdict(result)}
        if spec.get("why"):
            out["why"] = spec["why"]
        if result.reason:
            out["why"] = (
                f"Harvest refused the delete ({result.reason}), so {result.email} was archived: "
                "their time and expenses are kept"
            )
        return out
