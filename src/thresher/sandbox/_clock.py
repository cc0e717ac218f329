"""The sandbox's wall clock: real UTC time plus a settable offset.

Timestamps are whole seconds, as Harvest renders them (``2017-12-31T14:59:22Z``, §1). Token expiry
and ``updated_at`` read this clock, so moving it forward (``set_clock_offset``) expires tokens and
dates changes without waiting. Rate-limit windows do not: they run on the monotonic clock.
"""

from __future__ import annotations

import datetime as dt
import time

__all__ = ["SandboxClock", "format_date", "format_ts", "parse_ts"]


class SandboxClock:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    def stamp(self, previous: int | None = None) -> int:
        """A timestamp for a change: now, but strictly after ``previous`` so that ``updated_at``
        moves on every change, even two in one second or after the clock was set back."""
        now = int(self.now())
        return now if previous is None or now > previous else previous + 1

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.now(), dt.UTC).date()


def format_ts(ts: float) -> str:
    """``2017-12-31T14:59:22Z`` (ISO 8601 UTC, whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def format_date(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def parse_ts(text: str) -> float:
    """Seconds since the epoch from an ISO 8601 datetime (``Z`` or an offset; naive means UTC) or
    a plain date; raises ValueError."""
    value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()
