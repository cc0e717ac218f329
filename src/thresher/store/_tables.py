"""Handles of the store's tables for SQLAlchemy Core statements, one per table of ``_schema``."""

from __future__ import annotations

from ._schema import (
    ChangeEventRow,
    ConnectionRow,
    LeaseRow,
    RateBudgetRow,
    RateBudgetSlotRow,
    RoleMemberRow,
    RoleRow,
    ScimGroupRow,
    ScimPendingUserRow,
    ScimTokenCountRow,
    ScimTokenRow,
    ScimUserRow,
    SyncStateRow,
    TeammateRow,
    UserRow,
    table_of,
)

__all__ = [
    "CONNECTIONS",
    "EVENTS",
    "LEASES",
    "MEMBERS",
    "RATE_BUDGETS",
    "RATE_BUDGET_SLOTS",
    "ROLES",
    "SCIM_GROUPS",
    "SCIM_PENDING_USERS",
    "SCIM_TOKENS",
    "SCIM_TOKEN_COUNTS",
    "SCIM_USERS",
    "SYNC",
    "TEAMMATES",
    "USERS",
]

CONNECTIONS = table_of(ConnectionRow)
USERS = table_of(UserRow)
ROLES = table_of(RoleRow)
MEMBERS = table_of(RoleMemberRow)
TEAMMATES = table_of(TeammateRow)
SYNC = table_of(SyncStateRow)
EVENTS = table_of(ChangeEventRow)
SCIM_USERS = table_of(ScimUserRow)
SCIM_GROUPS = table_of(ScimGroupRow)
SCIM_PENDING_USERS = table_of(ScimPendingUserRow)
SCIM_TOKENS = table_of(ScimTokenRow)
SCIM_TOKEN_COUNTS = table_of(ScimTokenCountRow)
LEASES = table_of(LeaseRow)
RATE_BUDGETS = table_of(RateBudgetRow)
RATE_BUDGET_SLOTS = table_of(RateBudgetSlotRow)
