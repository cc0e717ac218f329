"""Typed async client for the Harvest (getharvest.com) API v2, with a blocking facade.

Every fact it relies on is in ``docs/harvest-api.md`` (section numbers are cited in the code)::

    from thresher.harvest import AsyncHarvest, HarvestSettings

    async with AsyncHarvest(HarvestSettings.from_env()) as harvest:
        async for user in harvest.list_users(is_active=True):
            print(user.email)

``Harvest`` offers the same methods without ``await``. Requests carry the three required headers
(§1), share one rate limiter per account (§4), follow ``links.next`` (§3), retry only what is safe
to retry, and fail with the errors of ``thresher.harvest`` grouped by what to do next.
"""

from __future__ import annotations

import inspect as _inspect

from ._access_roles import (
    BASE_ROLES,
    MANAGER_ADDONS,
    PEOPLE_MANAGER,
    AccessRoleError,
    validate_access_roles,
)
from ._auth import OAuth2Auth, OAuth2Token, OAuthApp, PersonalAccessToken
from ._blocking import Harvest
from ._client import AsyncHarvest
from ._emails import normalize_email
from ._errors import (
    AmbiguousCreateError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    CredentialsError,
    HarvestError,
    InputError,
    InvalidRequestError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitedError,
    RetryableError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    UnprocessableError,
    UnrecoverableError,
)
from ._models import (
    Account,
    ClientRef,
    Company,
    IdentityAccounts,
    IdentityUser,
    PageLinks,
    ProjectAssignment,
    ProjectRef,
    Rate,
    Role,
    TaskAssignment,
    TaskRef,
    Teammate,
    User,
    UserAssignment,
    UserRef,
)
from ._pagination import Page
from ._ratelimit import (
    LimiterRegistry,
    RateForecast,
    RateLimiter,
    Reservation,
    SharedBudget,
    WaitForecast,
    default_registry,
    parse_retry_after,
)
from ._requests import (
    RateCreate,
    RoleCreate,
    RoleUpdate,
    UserAssignmentCreate,
    UserAssignmentUpdate,
    UserCreate,
    UserUpdate,
    hours_to_seconds,
)
from ._retry import RetryPolicy
from ._settings import DEFAULT_BASE_URL, DEFAULT_ID_URL, HarvestSettings, parse_rate_limit
from ._timezones import (
    HARVEST_TIMEZONES,
    UnknownTimezoneError,
    harvest_to_iana,
    iana_to_harvest,
    is_harvest_timezone,
    normalize_timezone,
)
from ._transport import RequestRecord
from ._work_models import (
    Client,
    Expense,
    ExpenseCategoryRef,
    Project,
    ProjectTaskAssignment,
    Task,
    TeamTimeResult,
    TimeEntry,
)

__all__ = [
    "BASE_ROLES",
    "DEFAULT_BASE_URL",
    "DEFAULT_ID_URL",
    "HARVEST_TIMEZONES",
    "MANAGER_ADDONS",
    "PEOPLE_MANAGER",
    "AccessRoleError",
    "Account",
    "AmbiguousCreateError",
    "AsyncHarvest",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ClientRef",
    "Company",
    "ConfigurationError",
    "CredentialsError",
    "Expense",
    "ExpenseCategoryRef",
    "Harvest",
    "HarvestError",
    "HarvestSettings",
    "IdentityAccounts",
    "IdentityUser",
    "InputError",
    "InvalidRequestError",
    "LimiterRegistry",
    "NotFoundError",
    "OAuth2Auth",
    "OAuth2Token",
    "OAuthApp",
    "Page",
    "PageLinks",
    "PaginationError",
    "PermissionDeniedError",
    "PersonalAccessToken",
    "Project",
    "ProjectAssignment",
    "ProjectRef",
    "ProjectTaskAssignment",
    "Rate",
    "RateCreate",
    "RateForecast",
    "RateLimitedError",
    "RateLimiter",
    "RequestRecord",
    "Reservation",
    "RetryPolicy",
    "RetryableError",
    "Role",
    "RoleCreate",
    "RoleUpdate",
    "ServerError",
    "SharedBudget",
    "Task",
    "TaskAssignment",
    "TaskRef",
    "TeamTimeResult",
    "Teammate",
    "TimeEntry",
    "TransportError",
    "UnexpectedResponseError",
    "UnknownTimezoneError",
    "UnprocessableError",
    "UnrecoverableError",
    "User",
    "UserAssignment",
    "UserAssignmentCreate",
    "UserAssignmentUpdate",
    "UserCreate",
    "UserRef",
    "UserUpdate",
    "WaitForecast",
    "default_registry",
    "harvest_to_iana",
    "hours_to_seconds",
    "iana_to_harvest",
    "is_harvest_timezone",
    "normalize_email",
    "normalize_timezone",
    "parse_rate_limit",
    "parse_retry_after",
    "validate_access_roles",
]

# Tracebacks, reprs and docs name the public path (``thresher.harvest.NotFoundError``), never the
# private module a name happens to be defined in.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or _inspect.isfunction(_value):
        _value.__module__ = __name__
del _name, _value
