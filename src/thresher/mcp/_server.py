"""The MCP server of one connection: its tools, resources and prompts, on the official SDK.

``build_server(ctx, read_only=...)`` defines the server; running it over stdio or streamable
HTTP is the caller's choice (``run_stdio``, ``thresher.mcp.http_app``), as house style 5 keeps
defining an app apart from running it. A read-only server has no write tool at all, so an agent
cannot even try one.
"""

# No `from __future__ import annotations`: the SDK reads the tools' annotations (their JSON
# schemas) from the functions at run time.
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, ParamSpec

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError

from thresher._errors import ThresherError

from ._context import McpContext
from ._errors import as_tool_error
from ._reads import ReadTools
from ._writes import WriteTools

__all__ = ["READ_TOOLS", "WRITE_TOOLS", "build_server"]

log = logging.getLogger("thresher.mcp")

READ_TOOLS = (
    "find_users",
    "get_user",
    "list_changes",
    "roster_summary",
    "who_reports_to",
    "list_roles",
    "user_hours",
)
WRITE_TOOLS = (
    "plan_create_user",
    "plan_update_user",
    "plan_offboard",
    "plan_set_teammates",
    "plan_roster",
    "apply_plan",
)

INSTRUCTIONS = """\
thresher: the Harvest (getharvest.com) user lifecycle for one account.
Reads come from thresher's mirror of the roster (fast, no Harvest request) and say how fresh it \
is. Writes are two steps: a plan_* tool returns the exact changes and a confirmation_id; show \
them to the user, then apply_plan(confirmation_id) carries them out, and is refused if Harvest \
changed in between. Harvest emails an invitation to every user it creates. Offboarding archives \
(history kept); deleting is possible only for users without time or expenses."""

P = ParamSpec("P")
User = Annotated[str, Field(description="Harvest user id, or email address")]
OptionalText = str | None
Status = Literal["active", "archived", "deleted", "any"]
Kind = Literal["created", "updated", "archived", "restored", "deleted", "roles_changed", "teammates_changed"]

Email = Annotated[str, Field(description="Email address")]
AccessRoles = Annotated[
    list[str] | None, Field(description="e.g. ['manager', 'people_manager'] or ['member']")
]
BusinessRoles = Annotated[list[str] | None, Field(description="Business role names; replaces the user's")]
Hours = Annotated[float | None, Field(description="Weekly capacity in hours", gt=0, le=168)]
Money = Annotated[OptionalText, Field(description="Amount per hour, e.g. '120.00'")]
Zone = Annotated[OptionalText, Field(description="IANA (Europe/Lisbon) or Harvest time zone name")]
ManagerEmail = Annotated[OptionalText, Field(description="Email of the manager whose team they join")]

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_PLAN = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_APPLY = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)


def honest(fn: Callable[P, Awaitable[dict[str, Any]]]) -> Callable[P, Awaitable[dict[str, Any]]]:
    """thresher's errors (Harvest's refusals included) as tool errors with the reason and the fix."""

    @functools.wraps(fn)
    async def tool(*args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        try:
            return await fn(*args, **kwargs)
        except (ThresherError, ValidationError) as exc:
            raise as_tool_error(exc) from None

    return tool


def build_server(ctx: McpContext, *, read_only: bool = False, name: str = "thresher") -> MCPServer[Any]:
    """The server for ``ctx``'s connection; ``read_only``: the read tools, resources and
    prompts only."""
    server: MCPServer[Any] = MCPServer(name, instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")
    reads = ReadTools(ctx)
    _add_reads(server, reads)
    if not read_only:
        _add_writes(server, WriteTools(ctx))
    _add_resources(server, reads)
    _add_prompts(server, read_only=read_only)
    return server


def _add_reads(server: MCPServer[Any], reads: ReadTools) -> None:
    @server.tool(annotations=_READ)
    @honest
    async def find_users(
        *,
        query: Annotated[OptionalText, Field(description="Part of the name or email, any case")] = None,
        email: Annotated[OptionalText, Field(description="Exact email, any case")] = None,
        access_role: Annotated[
            OptionalText,
            Field(
                description="administrator, manager, member, or a manager permission such as people_manager"
            ),
        ] = None,
        role: Annotated[OptionalText, Field(description="A business role's name, e.g. Designer")] = None,
        manager: Annotated[
            OptionalText, Field(description="Only this manager's teammates (id or email)")
        ] = None,
        status: Annotated[
            Status, Field(description="active (default), archived, deleted, or any (not deleted)")
        ] = "active",
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Search the account's users by name, email, access role, business role, manager or status.
        Paged: `next_offset` is the offset of the next page (null on the last)."""
        return await reads.find_users(
            query=query,
            email=email,
            access_role=access_role,
            role=role,
            manager=manager,
            status=status,
            limit=limit,
            offset=offset,
        )

    @server.tool(annotations=_READ)
    @honest
    async def get_user(
        user: User,
        live: Annotated[
            bool,
            Field(
                description="Also read from Harvest the project assignments and whether the user has time or "
                "expenses (which decides delete vs archive): three requests"
            ),
        ] = False,
    ) -> dict[str, Any]:
        """One user: every field, managers, teammates, business roles and rates."""
        return await reads.get_user(user, live)

    @server.tool(annotations=_READ)
    @honest
    async def list_changes(
        since: Annotated[
            OptionalText,
            Field(description="'7d', '24h', '30m', an ISO date or datetime; default the last 7 days"),
        ] = None,
        kind: Annotated[Kind | None, Field(description="Only this kind of change")] = None,
        user: Annotated[OptionalText, Field(description="Only this user's changes (id or email)")] = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """What changed in Harvest's roster (creates, updates, archives, restores, deletes, roles,
        teammates), newest first, each with its field-level before and after."""
        return await reads.list_changes(since, kind, user, limit)

    @server.tool(annotations=_READ)
    @honest
    async def roster_summary() -> dict[str, Any]:
        """Head counts: users by status; active users by access role and by business role."""
        return await reads.roster_summary()

    @server.tool(annotations=_READ)
    @honest
    async def who_reports_to(
        manager: User,
        indirect: Annotated[bool, Field(description="Also the teammates' teammates, and so on")] = False,
    ) -> dict[str, Any]:
        """The people on a manager's team in Harvest (their teammates)."""
        return await reads.who_reports_to(manager, indirect)

    @server.tool(annotations=_READ)
    @honest
    async def list_roles() -> dict[str, Any]:
        """The account's business roles (Designer, Engineer, ...) with their members' emails."""
        return await reads.list_roles()

    @server.tool(annotations=_READ)
    @honest
    async def user_hours(
        user: Annotated[
            OptionalText, Field(description="Id or email; omit for everyone (team report)")
        ] = None,
        from_date: Annotated[
            OptionalText, Field(description="YYYY-MM-DD; default 30 days before to_date")
        ] = None,
        to_date: Annotated[OptionalText, Field(description="YYYY-MM-DD; default today")] = None,
    ) -> dict[str, Any]:
        """Hours tracked in a period, read from Harvest: one user's total, billable and by project,
        or every user's totals."""
        return await reads.user_hours(user, from_date, to_date)


def _add_writes(server: MCPServer[Any], writes: WriteTools) -> None:
    @server.tool(annotations=_PLAN)
    @honest
    async def plan_create_user(
        *,
        email: Email,
        first_name: str,
        last_name: str,
        access_roles: AccessRoles = None,
        roles: BusinessRoles = None,
        weekly_capacity_hours: Hours = None,
        timezone: Zone = None,
        is_contractor: bool | None = None,
        manager_email: ManagerEmail = None,
        billable_rate: Money = None,
        cost_rate: Money = None,
    ) -> dict[str, Any]:
        """Plan onboarding one person (nothing is sent): returns the changes and a confirmation_id
        for apply_plan. Harvest emails them an invitation when applied."""
        return await writes.plan_create_user(
            email=email,
            first_name=first_name,
            last_name=last_name,
            access_roles=access_roles,
            roles=roles,
            weekly_capacity_hours=weekly_capacity_hours,
            timezone=timezone,
            is_contractor=is_contractor,
            manager_email=manager_email,
            billable_rate=billable_rate,
            cost_rate=cost_rate,
        )

    @server.tool(annotations=_PLAN)
    @honest
    async def plan_update_user(
        *,
        user: User,
        first_name: OptionalText = None,
        last_name: OptionalText = None,
        email: Annotated[OptionalText, Field(description="A new email address")] = None,
        access_roles: AccessRoles = None,
        roles: BusinessRoles = None,
        weekly_capacity_hours: Hours = None,
        timezone: Zone = None,
        is_contractor: bool | None = None,
        manager_email: ManagerEmail = None,
        billable_rate: Money = None,
        cost_rate: Money = None,
        active: Annotated[
            bool | None, Field(description="true restores an archived user, false archives")
        ] = None,
    ) -> dict[str, Any]:
        """Plan changes to one user (only the fields given change; nothing is sent): returns the
        changes and a confirmation_id for apply_plan."""
        return await writes.plan_update_user(
            user=user,
            first_name=first_name,
            last_name=last_name,
            email=email,
            access_roles=access_roles,
            roles=roles,
            weekly_capacity_hours=weekly_capacity_hours,
            timezone=timezone,
            is_contractor=is_contractor,
            manager_email=manager_email,
            billable_rate=billable_rate,
            cost_rate=cost_rate,
            active=active,
        )

    @server.tool(annotations=_PLAN)
    @honest
    async def plan_offboard(
        user: User,
        delete: Annotated[
            bool,
            Field(
                description="Delete instead of archive; only possible for users without time or expenses "
                "(otherwise they are archived, and the plan says why)"
            ),
        ] = False,
        remove_from_teams: Annotated[bool, Field(description="Take them off their managers' teams")] = True,
        remove_from_roles: Annotated[
            bool, Field(description="Take them out of their business roles")
        ] = False,
    ) -> dict[str, Any]:
        """Plan offboarding one person: archive (their hours kept) by default. Nothing is sent:
        returns the changes and a confirmation_id for apply_plan."""
        return await writes.plan_offboard(user, delete, remove_from_teams, remove_from_roles)

    @server.tool(annotations=_PLAN)
    @honest
    async def plan_set_teammates(
        manager: User,
        teammates: Annotated[list[str], Field(description="Ids or emails: the whole team (replaces it)")],
    ) -> dict[str, Any]:
        """Plan setting a manager's whole team (Harvest replaces the list). Nothing is sent:
        returns who joins and who leaves, and a confirmation_id for apply_plan."""
        return await writes.plan_set_teammates(manager, teammates)

    @server.tool(annotations=_PLAN)
    @honest
    async def plan_roster(
        text: Annotated[
            str,
            Field(
                description="CSV (header: email,first_name,last_name,access_roles,roles,"
                "weekly_capacity_hours,timezone,is_contractor,manager_email,billable_rate,cost_rate,"
                "active) or YAML (a list of users with those keys)",
                max_length=10_000_000,
            ),
        ],
        format: Literal["auto", "csv", "yaml"] = "auto",
        prune: Annotated[bool, Field(description="Archive active users the list does not name")] = False,
        max_archive: Annotated[
            int | None, Field(description="Allow a prune to archive this many", ge=0)
        ] = None,
    ) -> dict[str, Any]:
        """Plan bringing Harvest to a roster (e.g. "onboard these three from this list"): creates,
        updates, restores, rates, teams, roles, archives. Nothing is sent: returns the changes and
        a confirmation_id for apply_plan."""
        return await writes.plan_roster(text, format, prune, max_archive)

    @server.tool(annotations=_APPLY)
    @honest
    async def apply_plan(
        confirmation_id: Annotated[str, Field(description="From a plan_* tool's answer")],
    ) -> dict[str, Any]:
        """Carry out a plan the user has seen. Refused, with nothing written, if Harvest changed
        anything the plan was computed against since it was made; each plan applies once."""
        return await writes.apply_plan(confirmation_id)


def _add_resources(server: MCPServer[Any], reads: ReadTools) -> None:
    @server.resource(
        "thresher://roster/summary",
        name="roster_summary",
        mime_type="application/json",
        description="Head counts of the roster by status, access role and business role",
    )
    async def summary() -> str:
        return json.dumps(await reads.roster_summary())

    @server.resource(
        "thresher://changes/recent",
        name="recent_changes",
        mime_type="application/json",
        description="The roster's changes of the last 7 days, newest first",
    )
    async def changes() -> str:
        return json.dumps(await reads.list_changes())


def _add_prompts(server: MCPServer[Any], *, read_only: bool) -> None:
    @server.prompt(title="Onboard people from a list")
    def onboard_from_list(people: str) -> str:
        """Onboard the people in a pasted list (names, emails, roles, managers)."""
        if read_only:
            return "This thresher server is read-only: it can look people up but cannot onboard them."
        return (
            "Onboard these people into Harvest:\n\n" + people + "\n\n"
            "1. Check each email with find_users (status any) so nobody is created twice.\n"
            "2. Write them as a CSV roster (email,first_name,last_name,access_roles,manager_email, "
            "and any of roles,weekly_capacity_hours,timezone) and call plan_roster.\n"
            "3. Show me the planned changes, and remind me Harvest emails each new user an invitation.\n"
            "4. Only after I confirm, call apply_plan with the confirmation_id, and report the result."
        )

    @server.prompt(title="Offboard a person")
    def offboard_person(person: str, delete: bool = False) -> str:
        """Offboard one person: archive (keeping their hours), or delete when asked and possible."""
        if read_only:
            return "This thresher server is read-only: it can look people up but cannot offboard them."
        how = (
            "delete them if Harvest allows it (no time or expenses), else archive them"
            if delete
            else "archive them (their time stays in Harvest)"
        )
        return (
            f"Offboard {person} from Harvest: {how}.\n\n"
            "1. Find them with find_users or get_user and confirm with me it is the right person.\n"
            f"2. Call plan_offboard (delete={str(delete).lower()}); it takes them off their managers' "
            "teams too.\n"
            "3. Show me the plan, including why a delete would become an archive.\n"
            "4. Only after I confirm, call apply_plan with the confirmation_id, and report the result."
        )
