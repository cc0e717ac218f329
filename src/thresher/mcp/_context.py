"""What every tool of one server works with: the store, the connection, its client and plans."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from thresher.harvest import AsyncHarvest
from thresher.provision import WriteThrough
from thresher.store import RosterReads, Store, StoredConnection, StoredUser, UserProfile

from ._errors import McpError
from ._fresh import MirrorFreshness
from ._index import RosterIndex
from ._plans import PlanBook

__all__ = ["McpContext"]


@dataclasses.dataclass
class McpContext:
    """One connection served to agents. ``client`` is only used for what the mirror cannot
    answer (hours, project assignments) and for writes."""

    store: Store
    connection: StoredConnection
    client: AsyncHarvest
    freshness: MirrorFreshness
    plans: PlanBook = dataclasses.field(default_factory=PlanBook)
    _own_user_id: int | None = None

    @functools.cached_property
    def roster(self) -> RosterReads:
        return RosterReads(self.store, self.connection.id)

    @functools.cached_property
    def index(self) -> RosterIndex:
        return RosterIndex(self.store, self.connection.id)

    @functools.cached_property
    def writes(self) -> WriteThrough:
        # Recorded in the change log as the agents' writes (source "mcp").
        return WriteThrough(self.client, self.store, self.connection, source="mcp")

    async def fresh(self) -> dict[str, Any]:
        """The mirror within the server's age limit (synced first if older); how fresh it is."""
        report = await self.freshness.ensure()
        if report["synced_now"]:
            self.index.invalidate()
        return report

    async def own_user_id(self) -> int:
        """The token owner's Harvest id (``GET /v2/users/me``, once): never offboarded."""
        if self._own_user_id is None:
            self._own_user_id = (await self.client.me()).id
        return self._own_user_id

    def user(self, ref: str | int) -> StoredUser:
        """A live user of the mirror by Harvest id or email."""
        return self.profile(ref).user

    def profile(self, ref: str | int) -> UserProfile:
        """A live user by Harvest id or email, with managers, teammates and roles."""
        text = str(ref).strip()
        number = text.removeprefix("#")
        found = (
            self.index.profile(harvest_id=int(number)) if number.isdigit() else self.index.profile(email=text)
        )
        if found is None:
            raise McpError(
                f"no user {text!r} in the mirror of {self.connection.name}",
                hint="Search with find_users (by name or email); a user created in Harvest "
                "minutes ago appears after the next sync.",
            )
        return found
