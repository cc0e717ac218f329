"""The SCIM errors the bridge answers with, how a Harvest or validation error becomes one, and
the error of the bridge's token commands.

scim2-server turns any ``SCIMException`` into an RFC 7644 §3.12 error document; the two classes
here add the statuses an identity provider needs to tell "retry later" from "fix thresher".
Details never carry a secret or pydantic's echo of the input.
"""

from __future__ import annotations

import math

from pydantic import ValidationError
from scim2_models import InvalidValueException, NotFoundException, SCIMException, UniquenessException

from thresher._errors import ThresherError
from thresher.harvest import (
    ConfigurationError,
    HarvestError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RetryableError,
    UnprocessableError,
)

__all__ = [
    "BusyError",
    "TokenError",
    "UnavailableError",
    "UpstreamError",
    "retry_after_of",
    "scim_error",
    "validation_detail",
]

#: ``Retry-After`` of a 503 whose cause gave no wait of its own (seconds).
DEFAULT_RETRY_AFTER = 5


class TokenError(ThresherError, ValueError):
    """A token command cannot be done (duplicate name, unknown token, bad CIDR)."""


class UpstreamError(SCIMException):
    """Harvest could not be reached or refused thresher's own credentials."""

    status = 502
    _default_detail = "Harvest did not accept the request"


class UnavailableError(SCIMException):
    """Harvest (or the store) is rate limiting or failing: the identity provider should retry
    later, after ``retry_after`` seconds (sent as ``Retry-After``)."""

    status = 503
    _default_detail = "Harvest is unavailable; retry later"

    def __init__(self, *, detail: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(detail=detail)
        self.retry_after = retry_after


class BusyError(SCIMException):
    """A create would wait longer than the bridge allows for Harvest's rate budget: 429, and
    ``Retry-After`` says when the budget queued now will have been spent (RFC 6585 §4)."""

    status = 429
    _default_detail = "Harvest's rate budget is spent for now; retry later"

    def __init__(self, *, detail: str | None = None, retry_after: float) -> None:
        super().__init__(detail=detail)
        self.retry_after = retry_after


def retry_after_of(exc: BaseException) -> int:
    """Whole seconds for the ``Retry-After`` of a 429 or 503 answer (at least 1)."""
    seconds = getattr(exc, "retry_after", None)
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER
    return max(1, math.ceil(seconds))


def scim_error(exc: HarvestError, what: str) -> SCIMException:
    """A Harvest error as the SCIM error the identity provider should see (never a secret)."""
    message = exc.api_message or str(exc)
    if isinstance(exc, NotFoundError):
        return NotFoundException(detail=f"{what} not found in Harvest")
    if isinstance(exc, UnprocessableError):
        if "taken" in message.lower() or "already" in message.lower():
            return UniquenessException(detail=f"Harvest refused {what}: {message}")
        return InvalidValueException(detail=f"Harvest refused {what}: {message}")
    if isinstance(exc, InputError) and not isinstance(exc, ConfigurationError):
        return InvalidValueException(detail=f"Harvest refused {what}: {message}")
    if isinstance(exc, PermissionDeniedError):
        return UpstreamError(
            detail="thresher's Harvest token lacks the administrator role needed for this"
        )
    if isinstance(exc, RetryableError):
        return UnavailableError(
            detail=f"Harvest is unavailable ({type(exc).__name__}); retry later",
            retry_after=getattr(exc, "retry_after", None),
        )
    return UpstreamError(detail=f"Harvest refused {what}: {message}")


def validation_detail(exc: ValidationError) -> str:
    """A pydantic error as an ``invalidValue`` detail."""
    # Field names and messages only: pydantic's input echo is hidden (it may hold anything).
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts) or "invalid value"
