"""SCIM <-> Harvest: resources built from the mirror, and the Harvest fields a resource asks for.

Harvest keeps seconds (capacity), Harvest time zone names and decimals (rates); SCIM shows hours,
IANA zones and numbers. What Harvest has no field for travels in :class:`UserExtras`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from scim2_models import Email, GroupMembership, InvalidValueException, Meta, Reference, Resource

from thresher.harvest import (
    BASE_ROLES,
    PEOPLE_MANAGER,
    AccessRoleError,
    UnknownTimezoneError,
    harvest_to_iana,
    iana_to_harvest,
    validate_access_roles,
)
from thresher.store import StoredRole, StoredUser

from ._local import UserExtras
from ._models import ACCOUNT_TIMEZONE, ENTERPRISE_USER_SCHEMA, HARVEST_USER_SCHEMA

__all__ = [
    "extension",
    "group_member",
    "group_resource",
    "harvest_changes",
    "normalize_access_roles",
    "user_extras",
    "user_fields",
    "user_resource",
]


def normalize_access_roles(roles: Iterable[str]) -> list[str]:
    """One base role (the last one listed wins, as an IdP that adds a role means it), then the
    manager add-ons, which Harvest keeps only for managers."""
    listed = [r for r in dict.fromkeys(roles) if r != PEOPLE_MANAGER]
    bases = [r for r in listed if r in BASE_ROLES]
    base = bases[-1] if bases else "member"
    addons = [r for r in listed if r not in BASE_ROLES] if base == "manager" else []
    return [base, *addons]


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else seconds / 3600


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def extension(resource: Resource[Any], urn: str) -> Any:
    """The resource's extension ``urn``, or None."""
    try:
        return resource[urn]
    except (KeyError, TypeError):
        return None


# -- Harvest -> SCIM ---------------------------------------------------------------------------


def user_resource(
    model: type[Resource[Any]],
    user: StoredUser,
    extras: UserExtras,
    role_ids: Mapping[str, int],
    *,
    derived: bool = True,
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
        "schemas": [str(model.__schema__), ENTERPRISE_USER_SCHEMA, HARVEST_USER_SCHEMA],
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
    resource = model.model_validate(data)
    resource.meta = Meta(resource_type="User", created=user.created_at, last_modified=user.updated_at)
    return resource


def group_resource(
    model: type[Resource[Any]],
    role: StoredRole,
    external_id: str | None,
    member_ids: Iterable[int],
) -> Resource[Any]:
    """The role as a group; ``member_ids``: the members to show, in order (the others are
    hidden)."""
    members = [group_member(uid) for uid in member_ids]
    resource = model.model_validate(
        {
            "schemas": [str(model.__schema__)],
            "id": str(role.harvest_id),
            "externalId": external_id,
            "displayName": role.name,
            "members": members or None,
        }
    )
    resource.meta = Meta(resource_type="Group", created=role.created_at, last_modified=role.updated_at)
    return resource


def group_member(user_id: int) -> dict[str, str]:
    """One member of a group, as :func:`group_resource` shows it (before scim2-server turns the
    ``$ref`` into a URL)."""
    return {"value": str(user_id), "$ref": f"Users/{user_id}", "type": "User"}


# -- SCIM -> Harvest ---------------------------------------------------------------------------


def user_fields(resource: Resource[Any]) -> dict[str, Any]:
    """The Harvest fields a SCIM user asks for (None: not given)."""
    name = getattr(resource, "name", None)
    harvest = extension(resource, HARVEST_USER_SCHEMA)
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


def harvest_changes(current: StoredUser, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The ``PATCH /v2/users/{id}`` body for what ``fields`` (from :func:`user_fields`, without
    ``is_active``) changes on ``current``."""
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
    return changes


def user_extras(resource: Resource[Any], *, replaced: bool = False) -> UserExtras:
    """What Harvest cannot keep of ``resource``. ``replaced``: the resource is a whole new state
    (PUT, PATCH), where no emails means none, not "show the Harvest email"."""
    enterprise = extension(resource, ENTERPRISE_USER_SCHEMA)
    emails = getattr(resource, "emails", None)
    if emails is None and replaced:
        emails = []
    return UserExtras(
        external_id=resource.external_id,
        employee_number=getattr(enterprise, "employee_number", None),
        department=getattr(enterprise, "department", None),
        emails=None if emails is None else [e.model_dump(mode="json", exclude_none=True) for e in emails],
        hidden_at=None,
    )
