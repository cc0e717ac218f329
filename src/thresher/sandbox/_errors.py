"""Every exception the sandbox raises to its users, grouped by what the caller should do.

* ``SandboxConfigError``: fix the input (a bad ``SandboxConfig`` field, rate-limit or faults spec).
* ``SandboxStateError``: the state file cannot be read or written; fix or remove the file.
* ``SandboxServerError``: the server could not start (port taken, bind refused); pick another port.

All derive from ``SandboxError`` and, through it, from ``thresher.ThresherError`` so the CLI prints
them as one sentence plus a hint.

``DroppedConnectionError`` stands apart: no mistake of the caller's but the ``drop`` and ``lost``
faults themselves, so it derives from the exception httpx raises for a real dropped connection.
"""

from __future__ import annotations

import httpx

from .._errors import ThresherError

__all__ = [
    "DroppedConnectionError",
    "SandboxConfigError",
    "SandboxError",
    "SandboxServerError",
    "SandboxStateError",
]


class SandboxError(ThresherError):
    """Base class of every sandbox error."""


class SandboxConfigError(SandboxError, ValueError):
    """A configuration value (or spec string) the sandbox cannot use."""

    exit_code = 2


class SandboxStateError(SandboxError):
    """The state file (``--state``) could not be loaded or saved."""


class SandboxServerError(SandboxError):
    """The HTTP server could not be started or stopped."""


class DroppedConnectionError(httpx.RemoteProtocolError):
    """Raised after the status line so the server closes the connection (fault ``drop``).

    Over real HTTP the client sees the connection close mid-response; under
    ``httpx.ASGITransport`` this exception reaches the caller itself, which is why it is the
    exception httpx raises for a real drop."""
