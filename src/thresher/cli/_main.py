"""The console-script entry point: the one place errors and interrupts become messages and exit
codes (the table is in the README, "Exit codes").

Errors are matched through typer's own exception types (``typer.TyperException`` and its usage
errors, ``typer.Abort``, ``typer.Exit``): typer vendors its own click, so the ``click`` package's
classes never match what it raises. ``tests/cli/test_exit_codes.py`` runs every path.
"""

from __future__ import annotations

import sys
import traceback
from typing import NoReturn

import typer

from .._errors import ThresherError
from . import _console
from ._app import app

__all__ = ["EXIT_INTERRUPTED", "main"]

#: 128 + SIGINT, as shells report a process stopped by Ctrl-C.
EXIT_INTERRUPTED = 130


def _interrupted() -> NoReturn:
    _console.error(
        "Interrupted; re-run the same command to resume.",
        hint="Interrupted work is resumable: syncs continue from the last committed page, and "
        "apply re-plans from what Harvest now holds.",
    )
    sys.exit(EXIT_INTERRUPTED)


#: What the client's hints name for Python callers, as a command-line user does it.
_PYTHON_CALLS = {"list_accounts()": "'thresher accounts list'"}

#: A 401: Harvest answers a refused token and an account the token cannot reach alike
#: (docs/harvest-api.md §1.1).
_REFUSED_HINT = (
    "Harvest refused the token, or the account is not one the token reaches (Harvest answers both "
    "alike). 'thresher accounts list' shows the accounts the token reaches; 'thresher login' saves "
    "a new token (or set a new HARVEST_ACCESS_TOKEN)."
)


def _cli_hint(exc: ThresherError) -> str | None:
    """The error's hint as a person at the command line acts on it.

    ``thresher.harvest`` is a library first, so its hints name Python calls; here they name the
    commands instead. The client's module is looked up, not imported: if it is not loaded, the
    error did not come from it.
    """
    harvest = sys.modules.get("thresher.harvest")
    if harvest is not None and isinstance(exc, harvest.AuthenticationError):
        return _REFUSED_HINT
    hint = exc.hint
    for call, command in _PYTHON_CALLS.items():
        hint = hint.replace(call, command) if hint else hint
    return hint


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, rendering errors without tracebacks."""
    _console.new_run()
    try:
        code = app(args=argv, prog_name="thresher", standalone_mode=False)
    except ThresherError as exc:
        if _console.state.debug:
            traceback.print_exc()
        _console.error(str(exc), hint=_cli_hint(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Abort:
        # A declined confirmation (or Ctrl-D at a prompt).
        _console.error("Aborted.")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        # Usage errors (an unknown command or option, a missing or bad value) name the flag
        # and exit 2; typer renders them.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _console.error(str(exc))
        sys.exit(getattr(exc, "exit_code", 2))
    except SystemExit:
        raise
    except Exception as exc:
        if _console.state.debug:
            traceback.print_exc()
        _console.error(
            f"Unexpected error: {type(exc).__name__}: {exc}",
            hint="Re-run with --debug for the traceback, and report it.",
        )
        sys.exit(1)
    # Without standalone mode typer reports a Ctrl-C it caught itself as a return value.
    if code == EXIT_INTERRUPTED:
        _interrupted()
    if isinstance(code, int) and code:
        sys.exit(code)
