"""Errors of the service, grouped by what the operator should do.

- Fix the configuration: :class:`ServeConfigError` (``thresher.toml`` or the environment).
- Fix the command or try again: :class:`ServeError` (a port taken, a store unreachable at start).
- Fix the input: :class:`AdminError` (an admin or API token that cannot be created as asked).
"""

from __future__ import annotations

from thresher._errors import ThresherError

__all__ = ["AdminError", "ServeConfigError", "ServeError"]


class ServeError(ThresherError):
    """The service cannot start or keep running."""


class ServeConfigError(ServeError):
    """The configuration file or the environment holds a value the service cannot use."""

    exit_code = 78  # sysexits EX_CONFIG


class AdminError(ServeError):
    """An admin or an API token cannot be created, changed or found as asked."""

    exit_code = 65  # sysexits EX_DATAERR
