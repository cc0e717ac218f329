"""Write-through: every change goes to Harvest first, then into the store from Harvest's answer.

docs/architecture.md: writes always go to Harvest first; the store is updated from Harvest's response, never
guessed, in the same call, with change events of source ``write``. The next sync then reads the
same values, diffs them against the store and records nothing again.

Some writes change more than the object written, and the store is brought up to date for those
too (docs/harvest-api.md §6.3, §7.1, §7.5): setting teammates adds or removes the manager's
``people_manager`` role, and a role's ``user_ids`` change its members' ``roles`` names. Those users
are re-read from Harvest (one request each) rather than guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import anyio.to_thread

from thresher.harvest import (
    PEOPLE_MANAGER,
    AsyncHarvest,
    Rate,
    Role,
    Teammate,
    UnprocessableError,
    User,
    UserAssignment,
    UserAssignmentCreate,
    UserAssignmentUpdate,
    UserCreate,
    UserUpdate,
)
from thresher.store import ChangeEvent, EventSource, Store, StoredConnection

from ._roster_file import email_key

__all__ = ["WriteThrough"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WriteThrough:
    """Harvest writes for one connection that keep its roster mirror current.

    Every method makes the Harvest call(s) first; only a successful answer reaches the store.
    One instance serves concurrent requests (the SCIM bridge shares it), so it keeps no
    per-call state.
    """

    def __init__(
        self,
        client: AsyncHarvest,
        store: Store,
        connection: StoredConnection,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        source: EventSource = "write",
    ) -> None:
        self.client = client
        self.store = store
        self.connection = connection
        self._clock = clock
        #: The change log's source for these writes (``mcp`` when an agent applied them).
        self.source: EventSource = source

    # -- store updates ---------------------------------------------------------------------

    async def _users(self, users: Sequence[User]) -> list[ChangeEvent]:
        # In a worker thread: a transaction that waits for the database's write lock (another
        # process syncing) must not stall a server's event loop (the SCIM bridge, scim/_offload.py).
        return await anyio.to_thread.run_sync(self._apply_users, users)

    def _apply_users(self, users: Sequence[User]) -> list[ChangeEvent]:
        with self.store.transaction() as tx:
            return tx.apply_users(self.connection.id, users, observed_at=self._clock(), source=self.source)

    async def _refresh_users(self, user_ids: Iterable[int]) -> list[ChangeEvent]:
        users = [await self.client.get_user(uid) for uid in sorted(set(user_ids))]
        return await self._users(users) if users else []

    # -- users -----------------------------------------------------------------------------

    async def create_user(self, user: UserCreate | Mapping[str, Any]) -> User:
        """``POST /v2/users`` (sends Harvest's invitation email; never sent twice, see the client)."""
        created = await self.client.create_user(user)
        await self._users([created])
        return created

    async def create_or_find_user(self, user: UserCreate | Mapping[str, Any]) -> tuple[User, bool]:
        """Like ``create_user``, but when Harvest answers that the email is taken (a 422 naming
        it, gotcha 2: someone created the user since the mirror last saw the roster), look the
        user up, record it, and return ``(user, False)`` instead of failing. Still one request
        per create in the usual case; the lookup costs one listing only when the email is taken.
        """
        body = user if isinstance(user, UserCreate) else UserCreate.model_validate(user)
        try:
            return await self.create_user(body), True
        except UnprocessableError as exc:
            said = email_key(exc.api_message or str(exc))
            if email_key(body.email) not in said:
                raise
            found = await self.client.find_user_by_email(body.email)
            if found is None:
                raise  # the 422 was about something else that happened to quote the email
        await self._users([found])
        return found, False

    async def update_user(self, user_id: int, changes: UserUpdate | Mapping[str, Any]) -> User:
        """``PATCH /v2/users/{id}``; a change of ``access_roles`` may drop teammates (§6.3)."""
        before = self.store.get_user(self.connection.id, user_id)
        updated = await self.client.update_user(user_id, changes)
        await self._users([updated])
        if before is not None and PEOPLE_MANAGER in before.access_roles and not updated.is_people_manager:
            # Downgrading a people manager removes their teammates in Harvest (§6.3).
            with self.store.transaction() as tx:
                tx.set_teammates(
                    self.connection.id, user_id, [], observed_at=self._clock(), source=self.source
                )
        return updated

    async def archive_user(self, user_id: int) -> User:
        """``PATCH /v2/users/{id}`` ``{"is_active": false}``: offboarding that keeps time."""
        archived = await self.client.archive_user(user_id)
        await self._users([archived])
        return archived

    async def restore_user(self, user_id: int) -> User:
        """``PATCH /v2/users/{id}`` ``{"is_active": true}``."""
        restored = await self.client.restore_user(user_id)
        await self._users([restored])
        return restored

    async def delete_user(self, user_id: int) -> None:
        """``DELETE /v2/users/{id}``; Harvest refuses (422) once the user has time or expenses."""
        await self.client.delete_user(user_id)
        with self.store.transaction() as tx:
            tx.mark_user_deleted(self.connection.id, user_id, observed_at=self._clock(), source=self.source)

    # -- teammates -------------------------------------------------------------------------

    async def set_teammates(self, manager_id: int, teammate_ids: Iterable[int]) -> list[Teammate]:
        """``PATCH /v2/users/{id}/teammates`` (full replacement, §7.1), then re-read the manager,
        whose ``people_manager`` role follows the list."""
        teammates = await self.client.set_teammates(manager_id, list(teammate_ids))
        with self.store.transaction() as tx:
            tx.set_teammates(
                self.connection.id,
                manager_id,
                [t.id for t in teammates],
                observed_at=self._clock(),
                source=self.source,
            )
        await self._refresh_users([manager_id])
        return teammates

    # -- roles -----------------------------------------------------------------------------

    def _role_members(self, role_id: int) -> set[int]:
        for role in self.store.list_roles(self.connection.id):
            if role.harvest_id == role_id:
                return set(role.user_ids)
        return set()

    async def _after_role_change(self, roles: Sequence[Role], touched: set[int]) -> list[ChangeEvent]:
        with self.store.transaction() as tx:
            events = tx.apply_roles(
                self.connection.id, roles, observed_at=self._clock(), source=self.source, complete=False
            )
        # Members' `roles` names changed in Harvest; read them back rather than guess (§7.5).
        events += await self._refresh_users(touched)
        return events

    async def create_role(self, name: str, user_ids: Iterable[int] = ()) -> Role:
        """``POST /v2/roles``; a duplicate name is refused (422)."""
        role = await self.client.create_role(name, list(user_ids))
        await self._after_role_change([role], set(role.user_ids))
        return role

    async def update_role(
        self, role_id: int, *, name: str | None = None, user_ids: Iterable[int] | None = None
    ) -> Role:
        """``PATCH /v2/roles/{id}``; ``user_ids`` replaces the member list."""
        before = self._role_members(role_id)
        role = await self.client.update_role(
            role_id, name=name, user_ids=None if user_ids is None else list(user_ids)
        )
        touched = before ^ set(role.user_ids) if user_ids is not None else set()
        if name is not None:
            touched |= set(role.user_ids)  # their `roles` names show the new name
        await self._after_role_change([role], touched)
        return role

    async def delete_role(self, role_id: int) -> None:
        """``DELETE /v2/roles/{id}``; Harvest removes the role from its users."""
        members = self._role_members(role_id)
        await self.client.delete_role(role_id)
        roles = [r async for r in self.client.list_roles()]
        with self.store.transaction() as tx:
            tx.apply_roles(
                self.connection.id, roles, observed_at=self._clock(), source=self.source, complete=True
            )
        await self._refresh_users(members)

    # -- rates (not mirrored: the store keeps the user's current default rates) -------------

    async def create_billable_rate(
        self, user_id: int, amount: Decimal | float | str, start_date: dt.date | None = None
    ) -> Rate:
        """``POST /v2/users/{id}/billable_rates``, then re-read the user's current rate."""
        rate = await self.client.create_billable_rate(user_id, amount, start_date)
        await self._refresh_users([user_id])
        return rate

    async def create_cost_rate(
        self, user_id: int, amount: Decimal | float | str, start_date: dt.date | None = None
    ) -> Rate:
        """``POST /v2/users/{id}/cost_rates``, then re-read the user's current rate."""
        rate = await self.client.create_cost_rate(user_id, amount, start_date)
        await self._refresh_users([user_id])
        return rate

    # -- project assignments (not mirrored: the store keeps no assignments) ----------------

    async def assign_project(self, user_id: int, project_id: int) -> UserAssignment:
        """``POST /v2/projects/{pid}/user_assignments``, or re-activate an archived assignment
        (assigning an already-assigned user is undocumented [U], so it is never attempted)."""
        async for existing in self.client.list_user_assignments(user_id=user_id):
            if existing.project.id == project_id:
                if existing.is_active:
                    return existing
                return await self.client.update_project_user_assignment(
                    project_id, existing.id, UserAssignmentUpdate(is_active=True)
                )
        return await self.client.create_project_user_assignment(
            project_id, UserAssignmentCreate(user_id=user_id)
        )

    async def unassign_project(self, user_id: int, project_id: int) -> str:
        """``DELETE .../user_assignments/{id}``; when Harvest refuses (the assignment has time,
        §7.4) the assignment is archived instead. Returns ``deleted``, ``archived`` or ``none``."""
        async for existing in self.client.list_user_assignments(user_id=user_id):
            if existing.project.id != project_id:
                continue
            try:
                await self.client.delete_project_user_assignment(project_id, existing.id)
            except UnprocessableError:
                if existing.is_active:
                    await self.client.update_project_user_assignment(
                        project_id, existing.id, UserAssignmentUpdate(is_active=False)
                    )
                return "archived"
            return "deleted"
        return "none"
