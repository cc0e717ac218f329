"""Which credential scope each v3 user endpoint needs (docs/greenhouse.md §1).

Scopes are ``harvest:<resource>:<action>`` and set on the credential in Greenhouse ("Manage
Scopes"); a token without the one an endpoint needs gets a 403. The list scopes are agreed by
several integrators; the write scopes come from one detailed source [U]. The client names the
scope in ``MissingScopeError``; the sandbox enforces the same table.
"""

from __future__ import annotations

import re

__all__ = ["ALL_SCOPES", "READ_SCOPES", "required_scope"]

# (method, path below /v3 as a regular expression, scope)
_TABLE: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), scope)
    for method, pattern, scope in (
        ("GET", r"/users", "harvest:users:list"),
        ("POST", r"/users", "harvest:users:create"),
        ("PATCH", r"/users/\d+", "harvest:users:update"),
        ("POST", r"/users/\d+/activate", "harvest:users:activate"),
        ("POST", r"/users/\d+/deactivate", "harvest:users:deactivate"),
        ("POST", r"/users/\d+/revoke_permissions", "harvest:users:revoke_permissions"),
        ("POST", r"/user_emails", "harvest:user_emails:create"),
        ("GET", r"/user_job_permissions", "harvest:user_job_permissions:list"),
        ("POST", r"/user_job_permissions", "harvest:user_job_permissions:create"),
        ("DELETE", r"/user_job_permissions/\d+", "harvest:user_job_permissions:destroy"),
        ("GET", r"/future_job_permissions", "harvest:future_job_permissions:list"),
        ("POST", r"/future_job_permissions", "harvest:future_job_permissions:create"),
        ("DELETE", r"/future_job_permissions/\d+", "harvest:future_job_permissions:destroy"),
        ("GET", r"/user_roles", "harvest:user_roles:list"),
    )
)

#: Every scope the user endpoints use.
ALL_SCOPES: frozenset[str] = frozenset(scope for _, _, scope in _TABLE)
#: The ``:list`` scopes: enough for a roster mirror.
READ_SCOPES: frozenset[str] = frozenset(s for s in ALL_SCOPES if s.endswith(":list"))


def required_scope(method: str, path: str) -> str | None:
    """The scope ``METHOD /v3{path}`` needs (``path`` without the ``/v3`` prefix), or None for a
    path outside the user endpoints."""
    path = path.rstrip("/") or "/"
    for wanted, pattern, scope in _TABLE:
        if wanted == method.upper() and pattern.fullmatch(path):
            return scope
    return None
