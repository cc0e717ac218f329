"""Console output shared by every command: Rich when a terminal, plain otherwise."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console

__all__ = ["err_console", "error", "out", "print_json", "state"]


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
