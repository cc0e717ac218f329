"""The root of every thresher exception.

Each part keeps its own exceptions in one module (docs/architecture.md, house style 2); they all derive from
``ThresherError`` so the CLI can print any of them as one sentence plus a hint.
"""

from __future__ import annotations

__all__ = ["ThresherError"]


class ThresherError(Exception):
    """Base class: ``str(err)`` is one sentence saying what went wrong; ``hint`` how to fix it."""

    hint: str | None = None
    #: Process exit code the CLI uses for this error.
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint
