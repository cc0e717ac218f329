"""Typed async client for Greenhouse Recruiting's "Harvest" API v3 user endpoints.

Not Harvest time tracking (``thresher.harvest``): a different product that happens to share the
name; every fact relied on is in ``docs/greenhouse.md``::

    from thresher.greenhouse import AsyncGreenhouse, GreenhouseSettings

    async with AsyncGreenhouse(GreenhouseSettings.from_env()) as greenhouse:
        async for user in greenhouse.list_users(deactivated=False):
            print(user.primary_email)

Tokens are minted with OAuth client credentials acting as ``sub`` and renewed before their hour
is up; requests are paced by Greenhouse's ``X-RateLimit-*`` headers and wait out ``Retry-After``
(across processes too, given a ``SharedBudget``);
pages follow ``Link: rel="next"``; errors are classified by body into the exceptions below, each
naming its fix (a missing scope, a ``sub`` that is not a Site Admin, an expired token, a wrong or
revoked credential).
"""

from __future__ import annotations

import inspect as _inspect

from ._auth import AccessToken, ClientCredentialsAuth, StaticTokenAuth
from ._client import AsyncGreenhouse, DateFilter
from ._errors import (
    AmbiguousCreateError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    CredentialsError,
    GreenhouseError,
    InputError,
    InvalidClientError,
    InvalidRequestError,
    MissingScopeError,
    NotFoundError,
    NotSiteAdminError,
    PaginationError,
    PermissionDeniedError,
    RateLimitedError,
    RetryableError,
    ServerError,
    TokenExpiredError,
    TransportError,
    UnexpectedResponseError,
    UnprocessableError,
    UnrecoverableError,
)
from ._models import FutureJobPermission, InterviewerTag, JobPermission, User, UserEmail, UserRole
from ._pagination import Page
from ._ratelimit import BudgetPlace, RateLimiter, RateLimitHeaders, SharedBudget, parse_retry_after
from ._requests import UserCreate, UserUpdate
from ._scopes import ALL_SCOPES, READ_SCOPES, required_scope
from ._settings import (
    DEFAULT_BASE_URL,
    DEFAULT_TOKEN_URL,
    MAX_PER_PAGE,
    GreenhouseSettings,
    parse_rate_limit,
)
from ._transport import RequestRecord

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_BASE_URL",
    "DEFAULT_TOKEN_URL",
    "MAX_PER_PAGE",
    "READ_SCOPES",
    "AccessToken",
    "AmbiguousCreateError",
    "AsyncGreenhouse",
    "AuthenticationError",
    "BadRequestError",
    "BudgetPlace",
    "ClientCredentialsAuth",
    "ConfigurationError",
    "CredentialsError",
    "DateFilter",
    "FutureJobPermission",
    "GreenhouseError",
    "GreenhouseSettings",
    "InputError",
    "InterviewerTag",
    "InvalidClientError",
    "InvalidRequestError",
    "JobPermission",
    "MissingScopeError",
    "NotFoundError",
    "NotSiteAdminError",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitHeaders",
    "RateLimitedError",
    "RateLimiter",
    "RequestRecord",
    "RetryableError",
    "ServerError",
    "SharedBudget",
    "StaticTokenAuth",
    "TokenExpiredError",
    "TransportError",
    "UnexpectedResponseError",
    "UnprocessableError",
    "UnrecoverableError",
    "User",
    "UserCreate",
    "UserEmail",
    "UserRole",
    "UserUpdate",
    "parse_rate_limit",
    "parse_retry_after",
    "required_scope",
]

# Tracebacks, reprs and docs name the public path, never the private module.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or _inspect.isfunction(_value):
        _value.__module__ = __name__
del _name, _value
