"""Harvest's permission vocabulary: ``access_roles`` (docs/harvest-api.md §6.3).

One base role (``administrator``, ``manager``, ``member``); manager add-ons only with ``manager``;
``people_manager`` is derived by Harvest from the teammates list and never set by a client.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BASE_ROLES",
    "MANAGER_ADDONS",
    "PEOPLE_MANAGER",
    "AccessRoleError",
    "validate_access_roles",
]

BASE_ROLES: tuple[str, ...] = ("administrator", "manager", "member")
MANAGER_ADDONS: tuple[str, ...] = (
    "project_creator",
    "billable_rates_manager",
    "managed_projects_invoice_drafter",
    "managed_projects_invoice_manager",
    "client_and_task_manager",
    "time_and_expenses_manager",
    "estimates_manager",
)
PEOPLE_MANAGER = "people_manager"


class AccessRoleError(ValueError):
    """An access_roles list Harvest would refuse."""


def validate_access_roles(roles: Iterable[str], *, allow_derived: bool = False) -> list[str]:
    """Check a requested ``access_roles`` list and return it de-duplicated, base role first.

    ``allow_derived`` admits ``people_manager`` (as found in responses) instead of refusing it.
    """
    seen: list[str] = []
    for role in roles:
        if role not in seen:
            seen.append(role)
    unknown = [r for r in seen if r not in BASE_ROLES and r not in MANAGER_ADDONS
               and r != PEOPLE_MANAGER]
    if unknown:
        raise AccessRoleError(
            f"unknown access role(s) {', '.join(unknown)}; base roles are {', '.join(BASE_ROLES)} "
            f"and manager add-ons are {', '.join(MANAGER_ADDONS)}"
        )
    if PEOPLE_MANAGER in seen and not allow_derived:
        raise AccessRoleError(
            "people_manager cannot be set: Harvest adds it when a manager is given teammates"
        )
    bases = [r for r in seen if r in BASE_ROLES]
    if len(bases) != 1:
        raise AccessRoleError(
            f"access_roles needs exactly one base role ({', '.join(BASE_ROLES)}), got "
            f"{', '.join(bases) or 'none'}"
        )
    addons = [r for r in seen if r not in BASE_ROLES]
    if addons and bases[0] != "manager":
        raise AccessRoleError(
            f"{', '.join(addons)} can only be combined with the manager base role, not {bases[0]}"
        )
    return [bases[0], *addons]
