"""The Greenhouse sandbox's own errors (configuration, serving)."""

from __future__ import annotations

from .._errors import ThresherError

__all__ = ["GreenhouseSandboxError"]


class GreenhouseSandboxError(ThresherError):
    """A sandbox setting or request of the control plane cannot be used."""

    exit_code = 2
