"""Errors of the sync engine, grouped by what the caller should do.

- Retry later: :class:`SyncBusyError` (another run holds the connection's sync lease).
- Re-run to resume: :class:`SyncInterruptedError`, and any :class:`SyncError`.
- Nothing to do here: :class:`SyncSupersededError` (another run took over and carries on).
"""

from __future__ import annotations

from thresher._errors import ThresherError
from thresher.store import Lease

__all__ = ["SyncBusyError", "SyncError", "SyncInterruptedError", "SyncSupersededError"]


class SyncError(ThresherError):
    """A sync could not finish; what it committed stays and the next run resumes from there."""


class SyncInterruptedError(SyncError):
    """The sync was stopped part-way (a fault or a signal); re-run it to resume."""

    hint = "Run the same sync again: it resumes from the last committed page."


class SyncBusyError(SyncError):
    """Another process holds the connection's sync lease (``lease`` says who, where, since when)."""

    exit_code = 75  # sysexits EX_TEMPFAIL: try again later

    def __init__(self, connection: str, lease: Lease, *, waited: float | None = None) -> None:
        since = lease.acquired_at.astimezone().strftime("%H:%M:%S")
        message = (
            f"another sync of {connection!r} is running (pid {lease.pid} on {lease.host}, since {since})"
        )
        if waited is not None:
            message += f"; gave up after waiting {waited:.0f} s"
        super().__init__(
            message,
            hint=(
                "Let it finish, or run 'thresher sync --wait' to start once it is done. A run "
                "that died holds the lease until it expires (30 s by default)."
            ),
        )
        self.connection = connection
        self.lease = lease


class SyncSupersededError(SyncError):
    """This run stalled past its lease's expiry and another run took over; it stopped writing."""

    hint = (
        "Nothing to repair: the run that took over carries on from the last committed page. "
        "If this keeps happening, the machine or database stalls longer than the lease time."
    )

    def __init__(self, connection: str, written: str) -> None:
        super().__init__(
            f"this sync of {connection!r} was superseded by another sync; "
            f"nothing after {written} was written"
        )
        self.connection = connection
