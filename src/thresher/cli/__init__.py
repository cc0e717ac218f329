"""The ``thresher`` command line (Typer + Rich): thin commands over the other parts.

``app`` and ``main`` load on first use, so importing one of the CLI's modules (a test importing
``thresher.cli._json``, say) does not build the whole command tree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import app
    from ._main import main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from ._app import app  # noqa: PLC0415 - loaded on first use (see the docstring)

        return app
    if name == "main":
        from ._main import main  # noqa: PLC0415

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
