"""Every exception the sandbox raises to its users, grouped by what the caller should do.

* ``SandboxConfigError``: fix the input (a bad ``SandboxConfig`` field, rate-limit or faults spec).
* ``SandboxStateError``: the state file cannot be read or written; fix or remove the file.
* ``SandboxServerError``: the server could not start (port taken, bind refused); pick another port.

All derive from ``SandboxError`` and, through it, from ``thresher.ThresherError`` so the CLI prints
them as one sentence plus a hint.
"""

from __future__ import annotations

from .._errors import ThresherError

__all__ = ["SandboxConfigError", "SandboxError", "SandboxServerError", "SandboxStateError"]


class SandboxError(ThresherError):
    """Base class of every sandbox error."""


class SandboxConfigError(SandboxError, ValueError):
    """A configuration value (or spec string) the sandbox cannot use."""

    exit_code = 2


class SandboxStateError(SandboxError):
    """The state file (``--state``) could not be loaded or saved."""


class SandboxServerError(SandboxError):
    """The HTTP server could not be started or stopped."""
