"""Console output shared by every command: Rich when a terminal, plain otherwise.

Rich loads on the first thing printed through it, not on import: ``rich.console`` costs about a
fifth of the 0.3 s start-up budget (``bench/cli_startup.py``), which ``--help`` need not pay.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import typer

from thresher._errors import ThresherError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "ConfirmationRequiredError",
    "UsageError",
    "confirm",
    "err_console",
    "error",
    "escape",
    "new_run",
    "out",
    "print_json",
    "real_console",
    "refuse_unconfirmed",
    "state",
]


@dataclass
class _State:
    debug: bool = False


state = _State()


class _LazyConsole:
    """A Rich ``Console`` made on first use; every attribute is the real console's."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console  # noqa: PLC0415 - see the module docstring

            # Rich drops colour by itself when the stream is not a terminal (honours NO_COLOR).
            self._console = Console(stderr=self._stderr, highlight=False)
        return self._console

    def forget(self) -> None:
        self._console = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


_out = _LazyConsole(stderr=False)
_err = _LazyConsole(stderr=True)
out = cast("Console", _out)
err_console = cast("Console", _err)


def new_run() -> None:
    """Each run reads the environment afresh (``COLUMNS``, ``NO_COLOR``, ``FORCE_COLOR``), as a
    new process would: Rich reads it when a console is made, and a process that runs commands
    in-process (tests, an embedding app) may change it between runs."""
    _out.forget()
    _err.forget()


def real_console(console: Console) -> Console:
    """The Rich console behind ``out`` or ``err_console``, for Rich objects that keep a console
    (a progress bar's live display) rather than only calling its methods."""
    lazy: object = console
    return lazy.real() if isinstance(lazy, _LazyConsole) else console


def escape(text: str) -> str:
    """Rich's markup escape (``rich.markup.escape``), loading Rich only when called."""
    from rich.markup import escape as rich_escape  # noqa: PLC0415 - see the module docstring

    return rich_escape(text)


def error(message: str, *, hint: str | None = None) -> None:
    err_console.print(f"[bold red]Error:[/] {message}", markup=True, soft_wrap=True)
    if hint:
        err_console.print(f"[dim]Hint:[/] {hint}", markup=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine output for --json: plain JSON on stdout, never Rich-formatted."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()


class UsageError(ThresherError):
    """The command line is wrong or incomplete (a bad value, a missing choice or option): exit 2,
    nothing done, as for click's own usage errors (README, "Exit codes")."""

    exit_code = 2


class ConfirmationRequiredError(UsageError):
    """A destructive command ran without a terminal to ask on, and without ``--yes``."""


def refuse_unconfirmed(question: str, *, yes: bool) -> None:
    """Refuse at once, before any request, when ``confirm`` could not ask later."""
    if not yes and not sys.stdin.isatty():
        confirm(question, yes=False)


def confirm(question: str, *, yes: bool) -> None:
    """Go on only if confirmed: ``--yes``, else "y" at the prompt on a terminal.

    Without a terminal on stdin (a script, CI, a pipe) nobody can answer, so the command is refused
    rather than guessed at. Declining raises ``typer.Abort``: "Aborted.", exit 1 (``_main``).
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRequiredError(
            f"not confirmed, so nothing was changed: {question}",
            hint="stdin is not a terminal, so thresher cannot ask; re-run with --yes to confirm.",
        )
    typer.confirm(question, abort=True, err=True)
