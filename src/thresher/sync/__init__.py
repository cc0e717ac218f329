"""Sync: an exact, current mirror of each connected account's roster, with a change log."""

from ._engine import RosterSync
from ._errors import SyncBusyError, SyncError, SyncInterruptedError, SyncSupersededError
from ._report import ProgressCallback, SyncOptions, SyncReport

__all__ = [
    "ProgressCallback",
    "RosterSync",
    "SyncBusyError",
    "SyncError",
    "SyncInterruptedError",
    "SyncOptions",
    "SyncReport",
    "SyncSupersededError",
]
