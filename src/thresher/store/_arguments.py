"""Checks of the arguments callers pass to the store, shared by its queries and its writes."""

from __future__ import annotations

import datetime as dt
from typing import cast

from ._errors import InvalidArgumentError
from ._records import EventSource
from ._schema import EVENT_SOURCES
from ._types import utc

__all__ = ["aware", "event_source", "now"]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(value: dt.datetime, what: str) -> dt.datetime:
    """``value`` in UTC; a naive datetime is an :class:`InvalidArgumentError`."""
    try:
        return utc(value, what)
    except ValueError as exc:
        raise InvalidArgumentError(
            str(exc), hint="Pass timezone-aware datetimes, e.g. datetime.now(UTC)."
        ) from None


def event_source(value: str) -> EventSource:
    if value not in EVENT_SOURCES:
        raise InvalidArgumentError(f"unknown event source {value!r}", hint="Use 'sync', 'write' or 'mcp'.")
    return cast(EventSource, value)
