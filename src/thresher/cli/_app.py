"""Root Typer app, global options, and the one place errors are turned into messages."""

from __future__ import annotations

import logging
import sys
import traceback

import click
import typer

from .._errors import ThresherError
from . import _console

app = typer.Typer(
    name="thresher",
    help=(
        "Run the whole lifecycle of Harvest users: a typed client, a local sandbox, a roster "
        "mirror, provisioning and a SCIM 2.0 bridge.\n\nExample: thresher demo"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks and debug logs (tokens stay redacted)."
    ),
) -> None:
    _console.state.debug = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    # Each part contributes its commands from its own module; imported here, not at package
    # import, so `import thresher.cli` stays cheap and cycles are impossible.
    from . import _commands  # noqa: F401, PLC0415


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, rendering thresher errors without tracebacks."""
    _register()
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
