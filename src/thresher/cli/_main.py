"""The console-script entry point: the one place errors are turned into messages."""

from __future__ import annotations

import sys
import traceback

import click

from .._errors import ThresherError
from . import _console
from ._app import app

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, rendering thresher errors without tracebacks."""
    try:
        app(args=argv, standalone_mode=False)
    except ThresherError as exc:
        if _console.state.debug:
            traceback.print_exc()
        _console.error(str(exc), hint=exc.hint)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _console.error("Interrupted.", hint="Re-run the same command: interrupted work resumes.")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        # click's own usage errors come through standalone_mode=False as ClickException.
        if isinstance(exc, click.exceptions.Abort):
            _console.error("Aborted.")
            sys.exit(1)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if _console.state.debug:
            traceback.print_exc()
        _console.error(
            f"Unexpected error: {type(exc).__name__}: {exc}",
            hint="Re-run with --debug for the traceback, and report it.",
        )
        sys.exit(1)
