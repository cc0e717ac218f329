"""SCIM <-> Harvest: resources built from the mirror, and the Harvest fields a resource asks for.

Harvest keeps seconds (capacity), Harvest time zone names and decimals (rates); SCIM shows hours,
IANA zones and numbers. What Harvest has no field for travels in :class:`UserExtras`.

Identity (docs/scim-idps.md §8): the userName is the identity provider's, kept by thresher; the
Harvest email is the primary address of ``emails`` (else the work one, else the only one), or
the userName when the request has no emails and the userName is an address.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import EmailStr, TypeAdapter, ValidationError
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
from ._models import ACCOUNT_TIMEZONE, ENTERPRISE_USER_SCHEMA, HARVEST_DEFAULTS, HARVEST_USER_SCHEMA

__all__ = [
    "MAX_TEXT_LENGTH",
    "extension",
    "group_member",
    "group_resource",
    "harvest_changes",
    "harvest_email",
    "is_address",
    "normalize_access_roles",
    "user_extras",
    "user_fields",
    "user_resource",
]


log = logging.getLogger("thresher.scim")

#: The longest text attribute the bridge stores (externalId, userName, names, enterprise fields):
#: longer values are refused on write rather than stored and repeated in every listing.
MAX_TEXT_LENGTH = 255
_ADDRESS: TypeAdapter[str] = TypeAdapter(EmailStr)
# Users whose Harvest email was already logged as impossible to show as a SCIM email.
_unshowable_logged: set[int] = set()


def is_address(value: str) -> bool:
    """Whether ``value`` is an email address the bridge may write to Harvest (the rules of
    ``EmailStr``, which the Harvest client and scim2-models apply too)."""
    try:
        _ADDRESS.validate_python(value)
    except ValidationError:
        return False
    return True


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


def _shown_emails(user: StoredUser, extras: UserExtras, *, derived: bool) -> list[Email]:
    """The user's emails as scim2-models can show them. Harvest accepts addresses scim2-models
    refuses (``jane@corp.local``, ``a@b``): such an entry is left out, and logged once per user,
    rather than failing every listing that holds the user."""
    raw = extras.emails
    if raw is None:
        if not derived:
            return []
        raw = [{"value": user.email, "type": "work", "primary": True}]
    shown = []
    for entry in raw:
        try:
            shown.append(Email.model_validate(entry))
        except ValidationError:
            if user.harvest_id not in _unshowable_logged:
                _unshowable_logged.add(user.harvest_id)
                log.warning(
                    "user %s: an email address is not valid in SCIM and is left out of emails",
                    user.harvest_id,
                )
    return shown


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
    emails = _shown_emails(user, extras, derived=derived)
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
        "userName": extras.user_name or user.email,
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
    if derived and _is_default(data[HARVEST_USER_SCHEMA]):
        # The extension is optional (/ResourceTypes): absent means Harvest's defaults, on the way
        # in (a creation without it) and out, so a PATCH that removes it is seen to be done.
        del data[HARVEST_USER_SCHEMA]
        data["schemas"].remove(HARVEST_USER_SCHEMA)
    resource = model.model_validate(data)
    resource.meta = Meta(resource_type="User", created=user.created_at, last_modified=user.updated_at)
    return resource


def _is_default(harvest: Mapping[str, Any]) -> bool:
    return all(harvest[name] == value for name, value in HARVEST_DEFAULTS.items()) and (
        harvest["defaultBillableRate"] is None and harvest["costRate"] is None
    )


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


def _check_lengths(resource: Resource[Any]) -> None:
    name = getattr(resource, "name", None)
    enterprise = extension(resource, ENTERPRISE_USER_SCHEMA)
    for attribute, value in (
        ("userName", getattr(resource, "user_name", None)),
        ("externalId", resource.external_id),
        ("name.givenName", getattr(name, "given_name", None)),
        ("name.familyName", getattr(name, "family_name", None)),
        ("employeeNumber", getattr(enterprise, "employee_number", None)),
        ("department", getattr(enterprise, "department", None)),
    ):
        if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
            raise InvalidValueException(
                detail=f"{attribute} is {len(value)} characters long; the bridge keeps at most "
                f"{MAX_TEXT_LENGTH}"
            )


def harvest_email(resource: Resource[Any], current: str | None = None) -> str:
    """The address Harvest keeps for ``resource``: the primary entry of ``emails``, else the work
    one, else the only one; without emails, the userName when it is an address, else
    ``current`` (the user's Harvest email, on an update)."""
    emails = [e for e in getattr(resource, "emails", None) or [] if e.value]
    user_name = getattr(resource, "user_name", None) or ""
    chosen = (
        next((e for e in emails if e.primary), None)
        or next((e for e in emails if str(e.type or "").lower() == "work"), None)
        or (emails[0] if len(emails) == 1 else None)
    )
    if chosen is not None:
        return str(chosen.value)
    if emails:
        raise InvalidValueException(
            detail="emails: mark the address Harvest should keep as primary or as type work"
        )
    if is_address(user_name):
        return user_name
    if current is not None:
        return current
    raise InvalidValueException(
        detail=f"userName {user_name[:80]!r} is not an email address and emails is missing: "
        "send the user's address in emails (primary or type work)"
    )


def user_fields(resource: Resource[Any], *, current_email: str | None = None) -> dict[str, Any]:
    """The Harvest fields a SCIM user asks for (None: not given). ``current_email``: the
    user's Harvest email, kept when an update has neither emails nor an address userName."""
    name = getattr(resource, "name", None)
    harvest: Any = extension(resource, HARVEST_USER_SCHEMA)
    if harvest is None:  # removed by a PATCH: Harvest's defaults (see user_resource)
        harvest = HarvestDefaults()
    if not getattr(resource, "user_name", None):
        raise InvalidValueException(detail="userName is required")
    _check_lengths(resource)
    email = harvest_email(resource, current_email)
    # What the bridge writes is validated, never what Harvest already holds.
    if email != current_email and not is_address(email):
        raise InvalidValueException(detail=f"emails: {email[:80]!r} is not an email address")
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
        "email": email,
        "first_name": getattr(name, "given_name", None),
        "last_name": getattr(name, "family_name", None),
        "timezone": harvest_tz,
        "is_active": getattr(resource, "active", None),
        "access_roles": roles,
        "weekly_capacity_hours": hours,
        "is_contractor": getattr(harvest, "contractor", None),
        "has_access_to_all_future_projects": getattr(harvest, "all_future_projects", None),
    }


class HarvestDefaults:
    """The Harvest extension's values when a user has none (docs/harvest-api.md §6.4)."""

    access_roles: list[str] = HARVEST_DEFAULTS["accessRoles"]
    weekly_capacity_hours: float = HARVEST_DEFAULTS["weeklyCapacityHours"]
    contractor: bool = HARVEST_DEFAULTS["contractor"]
    all_future_projects: bool = HARVEST_DEFAULTS["allFutureProjects"]


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


def user_extras(resource: Resource[Any], *, emails_sent: bool = True) -> UserExtras:
    """What Harvest cannot keep of ``resource``. ``emails_sent``: False when the request had no
    emails (the bridge filled them from the userName): none are kept, so the Harvest email is
    shown, whatever it becomes."""
    enterprise = extension(resource, ENTERPRISE_USER_SCHEMA)
    emails = getattr(resource, "emails", None) if emails_sent else None
    return UserExtras(
        external_id=resource.external_id,
        employee_number=getattr(enterprise, "employee_number", None),
        department=getattr(enterprise, "department", None),
        emails=[e.model_dump(mode="json", exclude_none=True) for e in emails] if emails else None,
        hidden_at=None,
        user_name=getattr(resource, "user_name", None),
    )
