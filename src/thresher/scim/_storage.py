"""scim2-server's storage contract over Harvest: reads from the mirror, writes through Harvest.

Every lookup is answered from the store (never by listing Harvest, which cannot filter by email).
A filter narrows the candidates through an index when it can (userName, externalId, an email, id,
displayName, a member), then scim2-models' own matcher decides each candidate, so the answer is
exact; a filter naming an attribute the bridge does not keep is refused with ``invalidFilter``
rather than answered with an empty list (scim-idp-behaviour.md §1: that makes IdPs duplicate).

Every write goes to Harvest first through :class:`thresher.provision.WriteThrough`, so the
mirror holds Harvest's answer before the response leaves, and a read right after sees it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

from pydantic import ValidationError
from scim2_models import (
    Email,
    GroupMembership,
    InvalidFilterException,
    InvalidValueException,
    Meta,
    NotFoundException,
    NotImplementedException,
    Reference,
    Resource,
    ResourceType,
    ResponseParameters,
    SCIMException,
    ScimFilter,
    SearchRequest,
    UniquenessException,
)
from scim2_models.path.expressions import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from scim2_server.storage import AsyncScimStorage, SearchPage

from thresher.harvest import (
    BASE_ROLES,
    AccessRoleError,
    ConfigurationError,
    HarvestError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RetryableError,
    UnprocessableError,
    UserCreate,
    harvest_to_iana,
    iana_to_harvest,
    validate_access_roles,
)
from thresher.harvest._timezones import UnknownTimezoneError
from thresher.provision import WriteThrough
from thresher.store import StoredRole, StoredUser

from ._local import LocalRecords, UserExtras
from ._models import ACCOUNT_TIMEZONE, ENTERPRISE_USER_SCHEMA, HARVEST_USER_SCHEMA
from ._service import last_read

__all__ = ["DeleteMode", "HarvestStorage", "UpstreamError"]

_PEOPLE_MANAGER = "people_manager"


class DeleteMode(enum.StrEnum):
    """What ``DELETE /Users/{id}`` does in Harvest."""

    archive = "archive"
    """Archive the user (their time stays); the bridge answers 404 for them from then on."""

    delete = "delete"
    """Delete the user; when Harvest refuses (the user has time or expenses), archive instead."""


class UpstreamError(SCIMException):
    """Harvest could not be reached or refused thresher's own credentials."""

    status = 502
    _default_detail = "Harvest did not accept the request"


class UnavailableError(SCIMException):
    """Harvest is rate limiting or failing: the identity provider should retry later."""

    status = 503
    _default_detail = "Harvest is unavailable; retry later"


def _scim_error(exc: HarvestError, what: str) -> SCIMException:
    """A Harvest error as the SCIM error the identity provider should see (never a secret)."""
    message = exc.api_message or str(exc)
    if isinstance(exc, NotFoundError):
        return NotFoundException(detail=f"{what} not found in Harvest")
    if isinstance(exc, UnprocessableError):
        if "taken" in message.lower() or "already" in message.lower():
            return UniquenessException(detail=f"Harvest refused {what}: {message}")
        return InvalidValueException(detail=f"Harvest refused {what}: {message}")
    if isinstance(exc, InputError) and not isinstance(exc, ConfigurationError):
        return InvalidValueException(detail=f"Harvest refused {what}: {message}")
    if isinstance(exc, PermissionDeniedError):
        return UpstreamError(
            detail="thresher's Harvest token lacks the administrator role needed for this"
        )
    if isinstance(exc, RetryableError):
        return UnavailableError(detail=f"Harvest is unavailable ({type(exc).__name__}); retry later")
    return UpstreamError(detail=f"Harvest refused {what}: {message}")


def _parse_id(resource_id: str | None, what: str) -> int:
    # Harvest ids are positive integers; Okta's spec test reads /Users/00919288221112222 (§2.1).
    if resource_id is None or not resource_id.isdigit() or len(resource_id) > 18:
        raise NotFoundException(detail=f"{what} {resource_id!r} not found")
    return int(resource_id)


def normalize_access_roles(roles: Iterable[str]) -> list[str]:
    """One base role (the last one listed wins, as an IdP that adds a role means it), then the
    manager add-ons, which Harvest keeps only for managers."""
    listed = [r for r in dict.fromkeys(roles) if r != _PEOPLE_MANAGER]
    bases = [r for r in listed if r in BASE_ROLES]
    base = bases[-1] if bases else "member"
    addons = [r for r in listed if r not in BASE_ROLES] if base == "manager" else []
    return [base, *addons]


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else seconds / 3600


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@dataclasses.dataclass
class _Roles:
    by_id: dict[int, StoredRole]

    @property
    def by_name(self) -> dict[str, StoredRole]:
        return {r.name: r for r in self.by_id.values()}


class HarvestStorage(AsyncScimStorage):
    """Users and Groups (roles) of one Harvest connection."""

    def __init__(
        self,
        writer: WriteThrough,
        user_model: type[Resource[Any]],
        group_model: type[Resource[Any]],
        *,
        delete_mode: DeleteMode = DeleteMode.archive,
    ) -> None:
        self.writer = writer
        self.store = writer.store
        self.connection_id = writer.connection.id
        self.local = LocalRecords(self.store, self.connection_id)
        self.user_model = user_model
        self.group_model = group_model
        self.delete_mode = delete_mode

    # -- building resources from the mirror ------------------------------------------------

    def _roles(self) -> _Roles:
        return _Roles({r.harvest_id: r for r in self.store.list_roles(self.connection_id)})

    def _user_resource(
        self, user: StoredUser, extras: UserExtras, role_ids: dict[str, int], *, derived: bool = True
    ) -> Resource[Any]:
        """``derived``: show the Harvest email as the work email when the IdP sent no emails.
        Left out of the state a PATCH or PUT starts from, so an added email is the only one."""
        emails = []
        if extras.emails is not None:
            emails = [Email.model_validate(e) for e in extras.emails]
        elif derived:
            emails = [Email(value=user.email, type=Email.Type.work, primary=True)]
        groups = [
            GroupMembership(
                value=str(role_ids[name]),
                ref=Reference(f"Groups/{role_ids[name]}"),
                display=name,
                type="direct",
            )
            for name in user.roles
            if name in role_ids
        ]
        timezone = None
        if user.timezone:
            try:
                timezone = harvest_to_iana(user.timezone)
            except (UnknownTimezoneError, KeyError):
                timezone = None
        data: dict[str, Any] = {
            "schemas": [str(self.user_model.__schema__), ENTERPRISE_USER_SCHEMA, HARVEST_USER_SCHEMA],
            "id": str(user.harvest_id),
            "externalId": extras.external_id,
            "userName": user.email,
            "name": {"givenName": user.first_name, "familyName": user.last_name},
            "displayName": user.full_name,
            "timezone": timezone,
            "active": user.is_active,
            "emails": [e.model_dump(exclude_none=True) for e in emails] or None,
            "groups": [g.model_dump(exclude_none=True, by_alias=True) for g in groups] or None,
            ENTERPRISE_USER_SCHEMA: {
                "employeeNumber": extras.employee_number,
                "department": extras.department,
            },
            HARVEST_USER_SCHEMA: {
                "accessRoles": list(user.access_roles),
                "weeklyCapacityHours": _hours(user.weekly_capacity),
                "contractor": user.is_contractor,
                "allFutureProjects": user.has_access_to_all_future_projects,
                "defaultBillableRate": _money(user.default_hourly_rate),
                "costRate": _money(user.cost_rate),
            },
        }
        resource = self.user_model.model_validate(data)
        resource.meta = Meta(
            resource_type="User", created=user.created_at, last_modified=user.updated_at
        )
        return resource

    def _group_resource(
        self, role: StoredRole, external_id: str | None, users: dict[int, StoredUser]
    ) -> Resource[Any]:
        members = [
            {
                "value": str(uid),
                "$ref": f"Users/{uid}",
                "type": "User",
            }
            for uid in role.user_ids
            if uid in users
        ]
        resource = self.group_model.model_validate(
            {
                "schemas": [str(self.group_model.__schema__)],
                "id": str(role.harvest_id),
                "externalId": external_id,
                "displayName": role.name,
                "members": members or None,
            }
        )
        resource.meta = Meta(
            resource_type="Group", created=role.created_at, last_modified=role.updated_at
        )
        return resource

    def _visible_users(self, ids: Iterable[int] | None = None) -> dict[int, StoredUser]:
        """Live users, minus those a SCIM DELETE archived and hid."""
        hidden = self.local.hidden_user_ids()
        if ids is None:
            users = self.store.list_users(self.connection_id)
        else:
            found = (self.store.get_user(self.connection_id, i) for i in sorted(set(ids)))
            users = [u for u in found if u is not None]
        return {u.harvest_id: u for u in users if u.harvest_id not in hidden}

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
            self._user_resource(u, extras.get(u.harvest_id, UserExtras()), role_ids, derived=derived)
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

    def _group(self, role_id: int) -> Resource[Any]:
        role = self._roles().by_id.get(role_id)
        if role is None:
            raise NotFoundException(detail=f"Group {role_id} not found")
        users = self._visible_users(role.user_ids)
        return self._group_resource(role, self.local.group_external_ids().get(role_id), users)

    # -- contract: get / search ------------------------------------------------------------

    async def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        if resource_type.name == "User":
            # Without response parameters, the server reads the state a PUT or PATCH applies to.
            user = self._user(_parse_id(resource_id, "User"), derived=response_parameters is not None)
            last_read.set(user)
            return user
        group = self._group(_parse_id(resource_id, "Group"))
        last_read.set(group)
        return group

    async def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        if len(resource_types) != 1:
            raise NotImplementedException(detail="Search /Users or /Groups, not the server root")
        scim_filter = search_request.filter
        is_user = resource_types[0].name == "User"
        model = self.user_model if is_user else self.group_model
        if scim_filter is not None:
            if scim_filter.model is not model:
                scim_filter = ScimFilter[model](str(scim_filter))  # type: ignore[valid-type]
            _check_filter(scim_filter, is_user)
        found = self._search_users(scim_filter) if is_user else self._search_groups(scim_filter)
        found.sort(key=lambda r: int(cast(str, r.id)))
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        return SearchPage(len(found), found[start:stop])

    def _search_users(self, scim_filter: ScimFilter[Any] | None) -> list[Resource[Any]]:
        candidates = _candidates(scim_filter.ast, user=True) if scim_filter is not None else None
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
            if not (value.isdigit() and len(value) <= 18):
                return {}
            return self.local.users_with_extras(harvest_ids=[int(value)])
        if kind == "externalId":
            return self.local.users_with_extras(external_id=value)
        found = self.local.users_with_extras(email=value)
        if kind == "email":
            others = set(self.local.user_ids_with_email_text(value)) - set(found)
            if others:
                found.update(self.local.users_with_extras(harvest_ids=others))
        return found

    def _search_groups(self, scim_filter: ScimFilter[Any] | None) -> list[Resource[Any]]:
        roles = list(self._roles().by_id.values())
        candidates = _candidates(scim_filter.ast, user=False) if scim_filter is not None else None
        if candidates is not None:
            keep: set[int] = set()
            for kind, value in candidates:
                for role in roles:
                    if (
                        (kind == "id" and str(role.harvest_id) == value)
                        or (kind == "displayName" and role.name.lower() == value.lower())
                        or (kind == "member" and value.isdigit() and int(value) in role.user_ids)
                    ):
                        keep.add(role.harvest_id)
            roles = [r for r in roles if r.harvest_id in keep]
        external = self.local.group_external_ids()
        member_ids = {uid for r in roles for uid in r.user_ids}
        users = self._visible_users(member_ids) if member_ids else {}
        resources = [self._group_resource(r, external.get(r.harvest_id), users) for r in roles]
        if scim_filter is None:
            return resources
        return [r for r in resources if scim_filter.match(r)]

    # -- contract: writes ------------------------------------------------------------------

    async def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
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
        fields = _user_fields(resource)
        email = cast(str, fields["email"])
        existing = self.store.find_user_by_email(self.connection_id, email)
        if existing is not None:
            extras = self.local.extras_of(existing.harvest_id)
            if extras.hidden_at is None:
                state = "archived " if not existing.is_active else ""
                raise UniquenessException(
                    detail=f"userName {email!r} belongs to {state}user {existing.harvest_id} already"
                )
            # A user the bridge deleted earlier (archived, hidden): Harvest cannot hold the same
            # address twice, so the identity provider gets that user back.
            fields.setdefault("is_active", True)
            await self._apply_user(existing, fields)
            self._save_extras(existing.harvest_id, resource)
            return self._user(existing.harvest_id)
        try:
            create = UserCreate.model_validate(
                {k: v for k, v in fields.items() if v is not None}
            )
        except ValidationError as exc:
            raise InvalidValueException(detail=_validation_detail(exc)) from None
        try:
            created = await self.writer.create_user(create)
        except HarvestError as exc:
            raise _scim_error(exc, f"user {email!r}") from None
        self._save_extras(created.id, resource)
        return self._user(created.id)

    async def _update_user(self, user_id: int, resource: Resource[Any]) -> Resource[Any]:
        current = self._visible_users([user_id]).get(user_id)
        if current is None:
            raise NotFoundException(detail=f"User {user_id} not found")
        fields = _user_fields(resource)
        email = cast(str, fields["email"])
        if email.lower() != current.email.lower():
            other = self.store.find_user_by_email(self.connection_id, email)
            if other is not None and other.harvest_id != user_id:
                raise UniquenessException(detail=f"userName {email!r} belongs to another user")
        await self._apply_user(current, fields)
        self._save_extras(user_id, resource, replaced=True)
        return self._user(user_id)

    async def _apply_user(self, current: StoredUser, fields: dict[str, Any]) -> None:
        """Send Harvest the differences, restoring first or archiving last (an archived user's
        names and email are frozen, harvest-api-v2.md gotcha 3)."""
        active = fields.pop("is_active", None)
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            if value is None:
                continue  # Harvest always has a value; absence keeps it.
            if key == "access_roles":
                if value != normalize_access_roles(current.access_roles):
                    changes[key] = value
            elif key == "weekly_capacity_hours":
                if current.weekly_capacity is None or abs(current.weekly_capacity - value * 3600) >= 1:
                    changes["weekly_capacity"] = round(value * 3600)
            elif getattr(current, key) != value:
                changes[key] = value
        frozen = bool({"first_name", "last_name", "email"} & changes.keys())
        archived = not current.is_active
        # Harvest freezes an archived user's names and email: restore, change, archive again.
        restore = archived and (active is True or (frozen and active is not True))
        archive = (active is False and not archived) or (restore and active is not True)
        what = f"user {current.harvest_id}"
        try:
            if restore:
                await self.writer.restore_user(current.harvest_id)
            if changes:
                await self.writer.update_user(current.harvest_id, changes)
            if archive:
                await self.writer.archive_user(current.harvest_id)
        except HarvestError as exc:
            raise _scim_error(exc, what) from None
        except ValidationError as exc:
            raise InvalidValueException(detail=_validation_detail(exc)) from None

    def _save_extras(self, user_id: int, resource: Resource[Any], *, replaced: bool = False) -> None:
        """Keep what Harvest cannot. ``replaced``: the resource is a whole new state (PUT,
        PATCH), where no emails means none, not "show the Harvest email"."""
        enterprise = _extension(resource, ENTERPRISE_USER_SCHEMA)
        emails = getattr(resource, "emails", None)
        if emails is None and replaced:
            emails = []
        self.local.save_user(
            user_id,
            UserExtras(
                external_id=resource.external_id,
                employee_number=getattr(enterprise, "employee_number", None),
                department=getattr(enterprise, "department", None),
                emails=None
                if emails is None
                else [e.model_dump(mode="json", exclude_none=True) for e in emails],
                hidden_at=None,
            ),
        )

    async def _delete_user(self, user_id: int) -> None:
        current = self._visible_users([user_id]).get(user_id)
        if current is None:
            raise NotFoundException(detail=f"User {user_id} not found")
        try:
            if self.delete_mode is DeleteMode.delete:
                try:
                    await self.writer.delete_user(user_id)
                    return
                except UnprocessableError:
                    pass  # Harvest keeps users with time or expenses: archive them instead.
            if current.is_active:
                await self.writer.archive_user(user_id)
        except HarvestError as exc:
            raise _scim_error(exc, f"user {user_id}") from None
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
            if value is None or not str(value).isdigit():
                raise InvalidValueException(detail=f"member {value!r} is not a user id")
            ids.append(int(value))
        unknown = set(ids) - set(self._visible_users(ids))
        if unknown:
            raise InvalidValueException(
                detail=f"no user with id {', '.join(str(i) for i in sorted(unknown))}"
            )
        return sorted(set(ids))

    async def _create_group(self, resource: Resource[Any]) -> Resource[Any]:
        name = cast(str, getattr(resource, "display_name", None))
        if name.lower() in {n.lower() for n in self._roles().by_name}:
            raise UniquenessException(detail=f"a group named {name!r} exists already")
        members = self._member_ids(resource)
        try:
            role = await self.writer.create_role(name, members)
        except HarvestError as exc:
            raise _scim_error(exc, f"group {name!r}") from None
        self.local.save_group(role.id, resource.external_id)
        return self._group(role.id)

    async def _update_group(self, role_id: int, resource: Resource[Any]) -> Resource[Any]:
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
        wanted = sorted(set(members) | hidden)
        try:
            if name != current.name or wanted != sorted(current.user_ids):
                await self.writer.update_role(
                    role_id,
                    name=name if name != current.name else None,
                    user_ids=wanted if wanted != sorted(current.user_ids) else None,
                )
        except HarvestError as exc:
            raise _scim_error(exc, f"group {role_id}") from None
        self.local.save_group(role_id, resource.external_id)
        return self._group(role_id)

    async def _delete_group(self, role_id: int) -> None:
        if role_id not in self._roles().by_id:
            raise NotFoundException(detail=f"Group {role_id} not found")
        try:
            await self.writer.delete_role(role_id)
        except HarvestError as exc:
            raise _scim_error(exc, f"group {role_id}") from None
        self.local.forget_group(role_id)


# -- helpers -------------------------------------------------------------------------------


def _extension(resource: Resource[Any], urn: str) -> Any:
    try:
        return resource[urn]
    except (KeyError, TypeError):
        return None


def _validation_detail(exc: ValidationError) -> str:
    # Field names and messages only: pydantic's input echo is hidden (it may hold anything).
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts) or "invalid value"


def _user_fields(resource: Resource[Any]) -> dict[str, Any]:
    """The Harvest fields a SCIM user asks for (None: not given)."""
    name = getattr(resource, "name", None)
    harvest = _extension(resource, HARVEST_USER_SCHEMA)
    user_name = getattr(resource, "user_name", None)
    if not user_name or "@" not in user_name:
        raise InvalidValueException(detail="userName must be the user's email address")
    timezone = getattr(resource, "timezone", None)
    harvest_tz = None
    if timezone and timezone != ACCOUNT_TIMEZONE:
        try:
            harvest_tz = iana_to_harvest(timezone)
        except (UnknownTimezoneError, ValueError):
            raise InvalidValueException(detail=f"timezone {timezone!r} is not an IANA time zone") from None
    roles = getattr(harvest, "access_roles", None)
    if roles is not None:
        try:
            roles = validate_access_roles(normalize_access_roles(roles))
        except AccessRoleError as exc:
            raise InvalidValueException(detail=f"accessRoles: {exc}") from None
    hours = getattr(harvest, "weekly_capacity_hours", None)
    if hours is not None and not (0 <= hours <= 168 and float(hours * 2).is_integer()):
        raise InvalidValueException(
            detail="weeklyCapacityHours must be between 0 and 168, in half-hour steps"
        )
    return {
        "email": user_name,
        "first_name": getattr(name, "given_name", None),
        "last_name": getattr(name, "family_name", None),
        "timezone": harvest_tz,
        "is_active": getattr(resource, "active", None),
        "access_roles": roles,
        "weekly_capacity_hours": hours,
        "is_contractor": getattr(harvest, "contractor", None),
        "has_access_to_all_future_projects": getattr(harvest, "all_future_projects", None),
    }


def _check_filter(scim_filter: ScimFilter[Any], user: bool) -> None:
    """Refuse a filter on an attribute the bridge does not keep: an empty answer would be a lie."""
    def walk(node: FilterNode, parent: str | None) -> None:
        if isinstance(node, Comparison | Present):
            path = node.attr_path
            if parent is not None:
                path = AttrPath(attr=parent, sub_attr=path.attr, uri=None)
            try:
                binding = scim_filter.resolve_comparison(path, strict=True)
            except SCIMException:
                binding = None
            if binding is None:
                raise InvalidFilterException(
                    detail=f"the bridge cannot filter on {str(_path_text(path))!r}"
                )
        elif isinstance(node, Not):
            walk(node.expr, parent)
        elif isinstance(node, LogicalExpr):
            for term in node.terms:
                walk(term, parent)
        elif isinstance(node, ValuePath):
            walk(node.val_filter, node.attr_path.attr)
        else:  # pragma: no cover - the grammar has no other node
            raise InvalidFilterException(detail="unsupported filter")

    walk(scim_filter.ast, None)


def _path_text(path: AttrPath) -> str:
    text = f"{path.uri}:{path.attr}" if path.uri else path.attr
    return f"{text}.{path.sub_attr}" if path.sub_attr else text


def _candidates(node: FilterNode, *, user: bool) -> list[tuple[str, str]] | None:
    """Index lookups that find every resource the filter can match (None: scan them all)."""
    if isinstance(node, LogicalExpr):
        if node.op == LogicalOperator.and_:
            for term in node.terms:
                found = _candidates(term, user=user)
                if found is not None:
                    return found
            return None
        union: list[tuple[str, str]] = []
        for term in node.terms:
            found = _candidates(term, user=user)
            if found is None:
                return None
            union += found
        return union
    if isinstance(node, ValuePath):
        attr = node.attr_path.attr.lower()
        inner = _candidates_inner(node.val_filter)
        if inner is None:
            return None
        if user and attr == "emails":
            return [("email", inner)]
        if not user and attr == "members":
            return [("member", inner)]
        return None
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq:
        return None
    if not isinstance(node.value, str):
        return None
    attr = node.attr_path.attr.lower()
    sub = (node.attr_path.sub_attr or "").lower()
    if attr == "id":
        return [("id", node.value)]
    if user:
        if attr == "username":
            return [("userName", node.value)]
        if attr == "externalid":
            return [("externalId", node.value)]
        if attr == "emails" and sub in ("", "value") and _searchable(node.value):
            return [("email", node.value)]
        return None
    if attr == "displayname":
        return [("displayName", node.value)]
    if attr == "members" and sub in ("", "value"):
        return [("member", node.value)]
    return None


def _candidates_inner(node: FilterNode) -> str | None:
    """The ``value eq "x"`` inside ``emails[...]`` or ``members[...]``, if it must hold."""
    if isinstance(node, Comparison):
        if (
            node.op == CompareOperator.eq
            and node.attr_path.attr.lower() == "value"
            and isinstance(node.value, str)
            and _searchable(node.value)
        ):
            return node.value
        return None
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_:
        for term in node.terms:
            found = _candidates_inner(term)
            if found is not None:
                return found
    return None


def _searchable(value: str) -> bool:
    # The stored emails are searched as JSON text: only characters JSON writes as themselves.
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value


