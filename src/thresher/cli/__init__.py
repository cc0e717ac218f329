"""The ``thresher`` command line (Typer + Rich): thin commands over the other parts."""

from ._app import app, main

__all__ = ["app", "main"]
