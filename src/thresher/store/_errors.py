"""Every exception of the roster store, grouped by what the caller should do.

- Fix the input: :class:`UnknownConnectionError`, :class:`DuplicateConnectionError`,
  :class:`DuplicateScimTokenError`, :class:`InvalidArgumentError`.
- Fix the configuration: :class:`DatabaseUnavailableError`, :class:`StoreNotFoundError`.
- Retry: :class:`DatabaseBusyError`; later, :class:`LeaseHeldError`.
- Stop (another process took over): :class:`LeaseLostError`.
- Give up (or upgrade thresher): :class:`MigrationError`, :class:`DatabaseError`, :class:`ReplayError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from thresher._errors import ThresherError

if TYPE_CHECKING:
    from ._records import Lease

__all__ = [
    "DatabaseBusyError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "DuplicateConnectionError",
    "DuplicateScimTokenError",
    "InvalidArgumentError",
    "LeaseHeldError",
    "LeaseLostError",
    "MigrationError",
    "ReplayError",
    "StoreError",
    "StoreNotFoundError",
    "UnknownConnectionError",
]

_URL_HINT = (
    "Set THRESHER_DATABASE_URL (or pass --database-url), e.g. sqlite:////path/to/thresher.db or "
    "postgresql+psycopg://user@host:5432/thresher."
)


class StoreError(ThresherError):
    """Base class of every roster-store error."""


class UnknownConnectionError(StoreError):
    """No connection has the given name or id."""

    exit_code = 78  # sysexits EX_CONFIG: no such connection is configured (README, "Exit codes")
    hint = "List the configured connections with 'thresher connections list'."


class DuplicateConnectionError(StoreError):
    """A connection with that name already exists."""

    hint = "Pick another name, or remove the existing connection first."


class DuplicateScimTokenError(StoreError):
    """A SCIM bridge token with that name already exists."""

    hint = "Pick another name, or revoke the existing token and use a new name."


class InvalidArgumentError(StoreError):
    """An argument the store cannot use (an unknown event kind, a naive datetime, say)."""


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached or opened (wrong URL, server down, missing folder)."""

    hint = _URL_HINT


class StoreNotFoundError(DatabaseUnavailableError):
    """``Store.open(create=False)`` found no store at the URL: no SQLite file, or no schema."""

    hint = "Check the URL, or open the store once with create=True (the default) to create it."


class DatabaseBusyError(StoreError):
    """Another process held a lock for too long, or a concurrent write conflicted; retrying helps."""

    hint = "Another thresher process is writing to the same store; run the command again."


class DatabaseError(StoreError):
    """The database refused a statement for a reason retrying will not fix."""

    hint = "Re-run with --debug for details, and report it if the database itself looks healthy."


class MigrationError(StoreError):
    """The schema could not be brought to the version this thresher needs."""

    hint = (
        "Run 'thresher db current' to see the database's revision. A revision this thresher does "
        "not know means the database was upgraded by a newer thresher: upgrade thresher."
    )


class LeaseHeldError(StoreError):
    """Another process holds the lease (``lease`` says who, where and since when)."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(
            f"the {lease.purpose} lease of connection {lease.connection_id} is held by pid "
            f"{lease.pid} on {lease.host} (since {lease.acquired_at:%Y-%m-%d %H:%M:%S} UTC)"
        )
        self.lease = lease


class LeaseLostError(StoreError):
    """The lease was taken over by another holder (this one stalled past its expiry)."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(
            f"the {lease.purpose} lease of connection {lease.connection_id} was taken over by "
            "another process while this one held it"
        )
        self.lease = lease


class ReplayError(StoreError):
    """An event does not apply to the snapshot it is replayed over (the log and snapshot disagree)."""
