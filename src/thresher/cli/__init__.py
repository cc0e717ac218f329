"""The ``thresher`` command line (Typer + Rich): thin commands over the other parts."""

from ._app import app
from ._main import main

__all__ = ["app", "main"]
