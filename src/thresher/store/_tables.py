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
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    WebhookLeaseRow,
    WebhookSubscriptionRow,
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
    "WEBHOOK_ATTEMPTS",
    "WEBHOOK_DELIVERIES",
    "WEBHOOK_EVENTS",
    "WEBHOOK_LEASES",
    "WEBHOOK_SUBSCRIPTIONS",
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
WEBHOOK_SUBSCRIPTIONS = table_of(WebhookSubscriptionRow)
WEBHOOK_EVENTS = table_of(WebhookEventRow)
WEBHOOK_DELIVERIES = table_of(WebhookDeliveryRow)
WEBHOOK_ATTEMPTS = table_of(WebhookAttemptRow)
WEBHOOK_LEASES = table_of(WebhookLeaseRow)
