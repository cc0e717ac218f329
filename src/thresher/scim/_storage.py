"""scim2-server's storage contract over Harvest: reads from the mirror, writes through Harvest.

Every lookup is answered from the store (never by listing Harvest, which cannot filter by email).
A filter narrows the candidates through an index when it can (see ``_filters``), then
scim2-models' own matcher decides each candidate, so the answer is exact.

Every write goes to Harvest first through :class:`thresher.provision.WriteThrough`, so the
mirror holds Harvest's answer before the response leaves, and a read right after sees it. The
rules Harvest imposes on a user's state (delete or archive, restore to rename) are
:mod:`thresher.provision`'s, shared with the CLI and the roster.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from scim2_models import (
    InvalidFilterException,
    InvalidValueException,
    NotFoundException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    SearchRequest,
    UniquenessException,
)
from scim2_server.storage import SearchPage

from thresher.harvest import HarvestError
from thresher.provision import WriteThrough, remove_user
from thresher.store import ConnectionSettingsStore, StoredRole, StoredUser

from ._base import MirrorStorage
from ._errors import scim_error
from ._filters import check_filter, index_lookups
from ._guards import OwnUserGuard
from ._local import UserExtras
from ._mapping import group_resource, user_resource
from ._service import last_read
from ._user_writes import UserWrites

__all__ = ["DeleteMode", "HarvestStorage"]

# Ids per batched lookup: well under the bound parameters SQLite (32,766) and PostgreSQL (65,535)
# take in one statement.
_ID_BATCH = 10_000


class DeleteMode(enum.StrEnum):
    """What ``DELETE /Users/{id}`` does in Harvest."""

    archive = "archive"
    """Archive the user (their time stays); the bridge answers 404 for them from then on."""

    delete = "delete"
    """Delete the user; when Harvest refuses (the user has time or expenses), archive instead."""


def _is_ascii_id(value: str) -> bool:
    """Harvest ids are ASCII digits; ``str.isdigit`` alone accepts Arabic-Indic and other digits,
    which ``int`` then reads as another id."""
    return value.isascii() and value.isdigit()


def _parse_id(resource_id: str | None, what: str) -> int:
    # Harvest ids are positive integers; Okta's spec test reads /Users/00919288221112222 (§2.1).
    if resource_id is None or not _is_ascii_id(resource_id) or len(resource_id) > 18:
        raise NotFoundException(detail=f"{what} {resource_id!r} not found")
    return int(resource_id)


def _page(found: list[Resource[Any]], search_request: SearchRequest[Any]) -> SearchPage:
    found.sort(key=lambda r: int(cast(str, r.id)))
    start = search_request.start_index_0 or 0
    stop = None if search_request.count is None else start + search_request.count
    return SearchPage(len(found), found[start:stop])


@dataclasses.dataclass
class _Roles:
    by_id: dict[int, StoredRole]

    @property
    def by_name(self) -> dict[str, StoredRole]:
        return {r.name: r for r in self.by_id.values()}


class HarvestStorage(MirrorStorage):
    """Users and Groups (roles) of one Harvest connection.

    What the reads below use is ``MirrorStorage``'s (``_base``), which the Greenhouse storage
    shares; what this ``__init__`` adds is Harvest's write-through alone."""

    def __init__(
        self,
        writer: WriteThrough,
        user_model: type[Resource[Any]],
        group_model: type[Resource[Any]],
        *,
        delete_mode: DeleteMode = DeleteMode.archive,
        guard: OwnUserGuard | None = None,
    ) -> None:
        super().__init__(writer.store, writer.connection, user_model, group_model)
        self.writer = writer
        self.guard = guard or OwnUserGuard(writer.client)
        self.delete_mode = delete_mode
        self.writes = UserWrites(writer, self.local, self._user, guard=self.guard, work=self.work)

    def complete_pending(self) -> int:
        """Complete the user writes Harvest accepted whose record the store could not save
        (``_user_writes``); returns how many. Blocking: the bridge calls it from a worker thread
        at its next requests, and from its sync thread after each sync."""
        return self.writes.complete_pending()

    async def _drain(self) -> None:
        if self.writes.drain_due():
            await self.work.write(self.writes.complete_pending)

    # -- reading the mirror ----------------------------------------------------------------

    def _roles(self) -> _Roles:
        return _Roles({r.harvest_id: r for r in self.store.list_roles(self.connection_id)})

    def _visible_users(self, ids: Iterable[int]) -> dict[int, StoredUser]:
        """Live users among ``ids``, minus those a SCIM DELETE archived and hid: one query per
        10,000 ids, whatever their number (a group of 2,000 members is one statement)."""
        wanted = sorted(set(ids))
        found: dict[int, tuple[StoredUser, UserExtras]] = {}
        for start in range(0, len(wanted), _ID_BATCH):
            found.update(self.local.users_with_extras(harvest_ids=wanted[start : start + _ID_BATCH]))
        return {uid: user for uid, (user, extras) in found.items() if extras.hidden_at is None}

    def _users_as_resources(
        self,
        users: Sequence[StoredUser],
        *,
        derived: bool = True,
        skip_hidden: bool = False,
        extras: Mapping[int, UserExtras] | None = None,
    ) -> list[Resource[Any]]:
        """``skip_hidden``: leave out the users a SCIM DELETE archived and hid. ``extras``: the
        users' SCIM-only data when the caller read it already."""
        if extras is None:
            extras = self.local.user_extras([u.harvest_id for u in users] if len(users) < 500 else None)
        if skip_hidden:
            users = [u for u in users if extras.get(u.harvest_id, UserExtras()).hidden_at is None]
        role_ids = self.local.role_ids_by_name() if any(u.roles for u in users) else {}
        return [
            user_resource(
                self.user_model, u, extras.get(u.harvest_id, UserExtras()), role_ids, derived=derived
            )
            for u in users
        ]

    def _user(self, user_id: int, *, derived: bool = True) -> Resource[Any]:
        pair = self.local.users_with_extras(harvest_ids=[user_id]).get(user_id)
        found = (
            []
            if pair is None
            else self._users_as_resources(
                [pair[0]], derived=derived, skip_hidden=True, extras={user_id: pair[1]}
            )
        )
        if not found:
            raise NotFoundException(detail=f"User {user_id} not found")
        return found[0]

    def _group(self, role_id: int, *, members_limit: int | None = None) -> Resource[Any]:
        """``members_limit``: 1 to put only the first member shown in the resource."""
        found = self.local.shown_group(role_id, members_limit=members_limit)
        if found is None:
            raise NotFoundException(detail=f"Group {role_id} not found")
        role, external_id = found
        return group_resource(self.group_model, role, external_id, role.user_ids)

    def group_sample(self, resource_id: str) -> tuple[Resource[Any], int]:
        """For the bridge's fast ``GET /Groups/{id}`` (``_group_reads``): the group with its first
        member only (or none), and its role id (see :meth:`shown_member_ids`)."""
        role_id = _parse_id(resource_id, "Group")
        return self._group(role_id, members_limit=1), role_id

    def shown_member_ids(self, role_id: int) -> list[int]:
        """The ids of the members the group of ``role_id`` shows, ascending."""
        return self.local.shown_member_ids(role_id)

    # -- contract: get / search ------------------------------------------------------------

    async def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        await self._drain()
        # Without response parameters, the server reads the state a PUT or PATCH applies to.
        found = await self.work.read(
            self._get, resource_type.name == "User", resource_id, response_parameters is not None
        )
        last_read.set(found)  # here, on the loop: a worker thread's context stays in the thread
        return found

    def _get(self, is_user: bool, resource_id: str, derived: bool) -> Resource[Any]:
        if is_user:
            return self._user(_parse_id(resource_id, "User"), derived=derived)
        return self._group(_parse_id(resource_id, "Group"))

    async def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        await self._drain()
        return await self.work.read(self._search, resource_types, search_request)

    def _search(self, resource_types: list[ResourceType], search_request: SearchRequest[Any]) -> SearchPage:
        if len(resource_types) == 1:
            is_user = resource_types[0].name == "User"
            scim_filter = self._filter(search_request, is_user=is_user)
            found = self._search_users(scim_filter) if is_user else self._search_groups(scim_filter)
            return _page(found, search_request)
        # The server root (RFC 7644 §3.4.2.1): users, then groups, each by id. A filter that
        # names what only one type has matches none of the other; one neither has is refused.
        parts: list[list[Resource[Any]]] = []
        refused: InvalidFilterException | None = None
        for kind in sorted(resource_types, key=lambda t: t.name != "User"):
            is_user = kind.name == "User"
            try:
                scim_filter = self._filter(search_request, is_user=is_user)
            except InvalidFilterException as exc:
                refused = exc
                continue
            found = self._search_users(scim_filter) if is_user else self._search_groups(scim_filter)
            parts.append(sorted(found, key=lambda r: int(cast(str, r.id))))
        if not parts and refused is not None:
            raise refused
        everything = [r for part in parts for r in part]
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        return SearchPage(len(everything), everything[start:stop])

    def search_group_samples(
        self, search_request: SearchRequest[Any]
    ) -> tuple[SearchPage, dict[str, list[int]]]:
        """For the bridge's fast ``GET /Groups`` (``_group_reads``): the page :meth:`search`
        finds, each group with its first member only, and the ids of every member each shows,
        by group id. A filter that names members is matched against whole groups."""
        scim_filter = self._filter(search_request, is_user=False)
        whole = scim_filter is not None and "members" in str(scim_filter).lower()
        found: list[Resource[Any]] = []
        members: dict[str, list[int]] = {}
        for role, external_id in self._shown_roles(scim_filter):
            sample = group_resource(self.group_model, role, external_id, role.user_ids[:1])
            if scim_filter is not None and not scim_filter.match(
                group_resource(self.group_model, role, external_id, role.user_ids) if whole else sample
            ):
                continue
            found.append(sample)
            members[str(role.harvest_id)] = role.user_ids
        return _page(found, search_request), members

    def _filter(self, search_request: SearchRequest[Any], *, is_user: bool) -> ScimFilter[Any] | None:
        scim_filter = search_request.filter
        model = self.user_model if is_user else self.group_model
        if scim_filter is not None:
            if scim_filter.model is not model:
                scim_filter = ScimFilter[model](str(scim_filter))  # type: ignore[valid-type]
            check_filter(scim_filter, is_user)
        return scim_filter

    def _search_users(self, scim_filter: ScimFilter[Any] | None) -> list[Resource[Any]]:
        candidates = index_lookups(scim_filter.ast, user=True) if scim_filter is not None else None
        if candidates is None:
            resources = self._users_as_resources(self.store.list_users(self.connection_id), skip_hidden=True)
        else:
            found: dict[int, tuple[StoredUser, UserExtras]] = {}
            for kind, value in candidates:
                found.update(self._users_for(kind, value))
            users = [found[i][0] for i in sorted(found)]
            extras = {i: pair[1] for i, pair in found.items()}
            resources = self._users_as_resources(users, skip_hidden=True, extras=extras)
        if scim_filter is None:
            return resources
        return [r for r in resources if scim_filter.match(r)]

    def _users_for(self, kind: str, value: str) -> dict[int, tuple[StoredUser, UserExtras]]:
        """Every live user an indexed comparison can match (hidden ones included), with their
        SCIM-only data."""
        if kind == "id":
            if not (_is_ascii_id(value) and len(value) <= 18):
                return {}
            return self.local.users_with_extras(harvest_ids=[int(value)])
        if kind == "externalId":
            return self.local.users_with_extras(external_id=value)
        if kind == "userName":
            return self.local.users_with_extras(user_name=value)
        found = self.local.users_with_extras(email=value)
        others = set(self.local.user_ids_with_email_text(value)) - set(found)
        if others:
            found.update(self.local.users_with_extras(harvest_ids=others))
        return found

    def _search_groups(self, scim_filter: ScimFilter[Any] | None) -> list[Resource[Any]]:
        resources = [
            group_resource(self.group_model, role, external_id, role.user_ids)
            for role, external_id in self._shown_roles(scim_filter)
        ]
        if scim_filter is None:
            return resources
        return [r for r in resources if scim_filter.match(r)]

    def _shown_roles(self, scim_filter: ScimFilter[Any] | None) -> list[tuple[StoredRole, str | None]]:
        """The roles a filter's indexed comparisons leave (all without them), each with its
        externalId and only the members the bridge shows."""
        roles = list(self._roles().by_id.values())
        candidates = index_lookups(scim_filter.ast, user=False) if scim_filter is not None else None
        if candidates is not None:
            keep: set[int] = set()
            for kind, value in candidates:
                for role in roles:
                    if (
                        (kind == "id" and str(role.harvest_id) == value)
                        or (kind == "displayName" and role.name.lower() == value.lower())
                        or (kind == "member" and _is_ascii_id(value) and int(value) in role.user_ids)
                    ):
                        keep.add(role.harvest_id)
            roles = [r for r in roles if r.harvest_id in keep]
        external = self.local.group_external_ids()
        wanted = sorted({uid for r in roles for uid in r.user_ids})
        shown: set[int] = set()
        for start in range(0, len(wanted), _ID_BATCH):
            shown |= self.local.shown_user_ids(wanted[start : start + _ID_BATCH])
        return [
            (
                dataclasses.replace(r, user_ids=[uid for uid in r.user_ids if uid in shown]),
                external.get(r.harvest_id),
            )
            for r in roles
        ]

    # -- contract: writes ------------------------------------------------------------------

    async def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        await self._drain()
        if resource_type.name == "User":
            return await self._create_user(resource)
        return await self._create_group(resource)

    async def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        await self._drain()
        if resource_type.name == "User":
            user_id = _parse_id(resource.id, "User")
            return await self._update_user(user_id, resource)
        return await self._update_group(_parse_id(resource.id, "Group"), resource)

    async def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        if resource_type.name == "User":
            await self._delete_user(_parse_id(resource_id, "User"))
        else:
            await self._delete_group(_parse_id(resource_id, "Group"))

    # -- users -----------------------------------------------------------------------------

    async def _create_user(self, resource: Resource[Any]) -> Resource[Any]:
        return await self.writes.create(resource)

    def _visible_user(self, user_id: int) -> StoredUser:
        current = self._visible_users([user_id]).get(user_id)
        if current is None:
            raise NotFoundException(detail=f"User {user_id} not found")
        return current

    async def _update_user(self, user_id: int, resource: Resource[Any]) -> Resource[Any]:
        current = await self.work.read(self._visible_user, user_id)
        return await self.writes.update(current, resource)

    def _delete_mode_now(self) -> DeleteMode:
        """The connection's stored mode (``thresher connections config --scim-delete-mode``) when
        it has one, else ``delete_mode`` (the ``--delete-mode`` flag). Read at each
        DELETE (one indexed row; deletes are rare), so a change applies without a restart
        (docs/scale-out.md, "SCIM delete mode")."""
        stored = ConnectionSettingsStore(self.store).get(self.connection_id)
        mode = stored.scim_delete_mode
        return self.delete_mode if mode is None else DeleteMode(mode)

    async def _delete_user(self, user_id: int) -> None:
        current = await self.work.read(self._visible_user, user_id)
        await self.guard.check_removal(current)
        mode = await self.work.read(self._delete_mode_now)
        try:
            removal = await remove_user(
                self.writer,
                user_id,
                is_active=current.is_active,
                delete=mode is DeleteMode.delete,
            )
        except HarvestError as exc:
            raise scim_error(exc, f"user {user_id}") from None
        if removal.outcome == "deleted":
            return
        await self.work.write(self._hide, user_id)

    def _hide(self, user_id: int) -> None:
        extras = self.local.extras_of(user_id)
        self.local.save_user(
            user_id, dataclasses.replace(extras, hidden_at=dt.datetime.now(dt.UTC))
        )

    # -- groups ----------------------------------------------------------------------------

    def _member_ids(self, resource: Resource[Any]) -> list[int]:
        members = getattr(resource, "members", None) or []
        ids: list[int] = []
        for member in members:
            value = member.value
            if value is None or not _is_ascii_id(str(value)):
                raise InvalidValueException(detail=f"member {value!r} is not a user id")
            ids.append(int(value))
        unknown = set(ids) - set(self._visible_users(ids))
        if unknown:
            raise InvalidValueException(
                detail=f"no user with id {', '.join(str(i) for i in sorted(unknown))}"
            )
        return sorted(set(ids))

    def _new_group_members(self, name: str, resource: Resource[Any]) -> list[int]:
        if name.lower() in {n.lower() for n in self._roles().by_name}:
            raise UniquenessException(detail=f"a group named {name!r} exists already")
        return self._member_ids(resource)

    def _saved_group(self, role_id: int, external_id: str | None) -> Resource[Any]:
        self.local.save_group(role_id, external_id)
        return self._group(role_id)

    async def _create_group(self, resource: Resource[Any]) -> Resource[Any]:
        name = cast(str, getattr(resource, "display_name", None))
        members = await self.work.read(self._new_group_members, name, resource)
        try:
            role = await self.writer.create_role(name, members)
        except HarvestError as exc:
            raise scim_error(exc, f"group {name!r}") from None
        return await self.work.write(self._saved_group, role.id, resource.external_id)

    def _group_change(self, role_id: int, resource: Resource[Any]) -> tuple[StoredRole, str, list[int]]:
        """The role, its new name and the member ids Harvest should hold (checked)."""
        current = self._roles().by_id.get(role_id)
        if current is None:
            raise NotFoundException(detail=f"Group {role_id} not found")
        name = cast(str, getattr(resource, "display_name", None))
        if name != current.name and name.lower() in {
            n.lower() for n, r in self._roles().by_name.items() if r.harvest_id != role_id
        }:
            raise UniquenessException(detail=f"a group named {name!r} exists already")
        members = self._member_ids(resource)
        # Members the bridge hides (deleted through SCIM) stay members in Harvest.
        hidden = set(current.user_ids) - set(self._visible_users(current.user_ids))
        return current, name, sorted(set(members) | hidden)

    async def _update_group(self, role_id: int, resource: Resource[Any]) -> Resource[Any]:
        current, name, wanted = await self.work.read(self._group_change, role_id, resource)
        try:
            if name != current.name or wanted != sorted(current.user_ids):
                await self.writer.update_role(
                    role_id,
                    name=name if name != current.name else None,
                    user_ids=wanted if wanted != sorted(current.user_ids) else None,
                )
        except HarvestError as exc:
            raise scim_error(exc, f"group {role_id}") from None
        return await self.work.write(self._saved_group, role_id, resource.external_id)

    def _check_group(self, role_id: int) -> None:
        if role_id not in self._roles().by_id:
            raise NotFoundException(detail=f"Group {role_id} not found")

    async def _delete_group(self, role_id: int) -> None:
        await self.work.read(self._check_group, role_id)
        try:
            await self.writer.delete_role(role_id)
        except HarvestError as exc:
            raise scim_error(exc, f"group {role_id}") from None
        await self.work.write(self.local.forget_group, role_id)
