"""Sync: an exact, current mirror of each connected account's roster, with a change log."""

from ._engine import ProgressCallback, RosterSync, SyncOptions, SyncReport
from ._errors import SyncError, SyncInterruptedError

__all__ = [
    "ProgressCallback",
    "RosterSync",
    "SyncError",
    "SyncInterruptedError",
    "SyncOptions",
    "SyncReport",
]
