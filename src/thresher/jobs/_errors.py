"""Every error of the workers' part, grouped by what the caller does about it."""

from __future__ import annotations

from thresher._errors import ThresherError

__all__ = ["JobsConfigError", "JobsError", "JobsUnavailableError"]


class JobsError(ThresherError):
    """Base class of this part's errors."""


class JobsConfigError(JobsError):
    """The configuration cannot work (a SQLite store, a bad setting): fix it, then start again."""

    exit_code = 78  # sysexits EX_CONFIG


class JobsUnavailableError(JobsError):
    """PostgreSQL did not answer: retry once it is back."""

    exit_code = 75  # sysexits EX_TEMPFAIL
