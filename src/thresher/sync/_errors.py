"""Errors of the sync engine, grouped by what the caller should do."""

from __future__ import annotations

from thresher._errors import ThresherError

__all__ = ["SyncError", "SyncInterruptedError"]


class SyncError(ThresherError):
    """A sync could not finish; what it committed stays and the next run resumes from there."""


class SyncInterruptedError(SyncError):
    """The sync was stopped part-way (a fault or a signal); re-run it to resume."""

    hint = "Run the same sync again: it resumes from the last committed page."
