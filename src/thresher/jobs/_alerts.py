"""The ``connection.paused`` operations event: why a worker paused a connection and how to fix it.

Sent to webhook subscriptions that asked for it (``connection.paused``, ``connection.*`` or ``*``;
docs/webhooks.md). Its ``data`` carries the reason as ``thresher jobs`` shows it, a machine-readable
``cause`` and the ``fix`` as commands; never a token, a secret or a credentials blob (the reasons
are built from the client's error messages, which name statuses, not credentials).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from thresher.store import StoredConnection

__all__ = ["CAUSES", "REFRESH_REFUSED", "REFUSED", "UNREADABLE", "paused_event"]

#: Harvest answered 401/403 to the connection's token.
REFUSED = "credentials_refused"
#: Harvest's OAuth endpoint refused the refresh token (revoked, or expired unused).
REFRESH_REFUSED = "refresh_refused"
#: The stored credentials cannot be unsealed (another THRESHER_SECRET_KEY) or read.
UNREADABLE = "credentials_unreadable"
CAUSES = (REFUSED, REFRESH_REFUSED, UNREADABLE)


def _fix(cause: str, name: str) -> str:
    resume = f"then resume it: thresher connections config {name} --resume"
    if cause == REFRESH_REFUSED:
        return (
            f"Authorize again (thresher login --oauth --name {name}, or create the connection "
            f"from a new OAuth result through the API), {resume}."
        )
    if cause == UNREADABLE:
        return (
            "Run the workers with the THRESHER_SECRET_KEY the credentials were saved with, or save "
            f"them again (thresher login --name {name}), {resume}."
        )
    return f"Give the connection a working token (thresher login --name {name}, or the API), {resume}."


def paused_event(connection: StoredConnection, reason: str, cause: str, when: dt.datetime) -> dict[str, Any]:
    """The event's ``data`` beside ``connection`` (which the outbox adds)."""
    if cause not in CAUSES:
        raise ValueError(f"unknown pause cause {cause!r}")
    return {
        "reason": reason,
        "cause": cause,
        "fix": _fix(cause, connection.name),
        "paused_at": when.isoformat(),
    }
