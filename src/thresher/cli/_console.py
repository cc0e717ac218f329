"""Console output shared by every command: Rich when a terminal, plain otherwise."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console

from thresher._errors import ThresherError

__all__ = [
    "ConfirmationRequiredError",
    "confirm",
    "err_console",
    "error",
    "out",
    "print_json",
    "refuse_unconfirmed",
    "state",
]


@dataclass
class _State:
    debug: bool = False


state = _State()
# Rich drops colour by itself when the stream is not a terminal (and honours NO_COLOR).
out = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def error(message: str, *, hint: str | None = None) -> None:
    err_console.print(f"[bold red]Error:[/] {message}", markup=True, soft_wrap=True)
    if hint:
        err_console.print(f"[dim]Hint:[/] {hint}", markup=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine output for --json: plain JSON on stdout, never Rich-formatted."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()


class ConfirmationRequiredError(ThresherError):
    """A destructive command ran without a terminal to ask on, and without ``--yes``."""

    exit_code = 2  # a usage error: the invocation lacks --yes


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
