"""Errors of the webhooks part, grouped by what the caller should do.

- Fix the input: :class:`UnsafeTargetError` (a URL that may not be sent to),
  :class:`UnknownSubscriptionError`, :class:`InvalidSubscriptionError`.
- Fix the configuration: :class:`WebhookSecretError` (the secret key cannot open a signing secret).
- Try again later: :class:`DispatcherBusyError` (SQLite: another dispatcher runs on this store).
"""

from __future__ import annotations

from thresher._errors import ThresherError
from thresher.store import Lease

__all__ = [
    "DispatcherBusyError",
    "InvalidSubscriptionError",
    "UnknownSubscriptionError",
    "UnsafeTargetError",
    "WebhookError",
    "WebhookSecretError",
]


class WebhookError(ThresherError):
    """Something about webhooks went wrong; the message says what."""


class InvalidSubscriptionError(WebhookError):
    """A subscription's URL, event types, filter or format is not valid."""

    exit_code = 65  # sysexits EX_DATAERR


class UnsafeTargetError(InvalidSubscriptionError):
    """The target resolves to a private, loopback or link-local address (server-side request
    forgery), or is not https."""

    hint = (
        "Use a public https URL, or pass --allow-private-targets for a receiver on your own "
        "network (loopback may use http)."
    )


class UnknownSubscriptionError(WebhookError):
    exit_code = 65
    hint = "See 'thresher webhooks list'."


class WebhookSecretError(WebhookError):
    """A signing secret cannot be decrypted with this machine's secret key."""

    exit_code = 78  # sysexits EX_CONFIG
    hint = (
        "Use the THRESHER_SECRET_KEY (or key file) the subscription was made with, or make a "
        "new secret with 'thresher webhooks rotate-secret ID'."
    )


class DispatcherBusyError(WebhookError):
    """SQLite stores have one dispatcher; another one holds the store's dispatcher lease."""

    exit_code = 75  # sysexits EX_TEMPFAIL

    def __init__(self, lease: Lease) -> None:
        super().__init__(
            f"another webhook dispatcher runs on this store (pid {lease.pid} on {lease.host}); "
            "a SQLite store has one dispatcher at a time",
            hint="Let that one deliver, or stop it first. Several dispatchers need PostgreSQL. "
            "A dispatcher that died holds the store until its lease expires (30 s by default).",
        )
        self.lease = lease
