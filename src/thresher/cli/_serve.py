"""``thresher serve``: the always-on service (SCIM, status API, dashboard, metrics, schedules)."""

# Heavy stacks (SQLAlchemy, pydantic, starlette, uvicorn) are imported inside the function, so
# `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import os

import typer

from ._console import err_console

__all__ = ["serve"]


def serve(
    config: str | None = typer.Option(
        None, "--config", help="Configuration file (default: $THRESHER_CONFIG, else ./thresher.toml if any)."
    ),
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Port (default 8080; 0 picks a free one, printed at start)."
    ),
    sync_interval: float | None = typer.Option(
        None, "--sync-interval", min=0.1, help="Seconds between incremental syncs of every connection."
    ),
    log_format: str | None = typer.Option(
        None, "--log-format", help="text or json (one JSON object per line, with request ids)."
    ),
    log_level: str | None = typer.Option(None, "--log-level", help="debug, info, warning or error."),
    shutdown_timeout: float | None = typer.Option(
        None, "--shutdown-timeout", min=0.1, help="Seconds SIGTERM waits for in-flight work (default 20)."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Store URL (default: THRESHER_DATABASE_URL, else the default file)."
    ),
    background: bool | None = typer.Option(
        None, "--background/--no-background",
        help="--no-background: HTTP only; 'thresher worker' processes sync (docs/scale-out.md).",
    ),
) -> None:
    """Run the service: SCIM bridge, MCP server, status API, dashboard, /metrics and scheduled syncs.

    Every connection in the store is synced on its own schedule; several 'thresher serve'
    processes on one PostgreSQL store share the work. SIGTERM stops it cleanly. Sign in to the
    dashboard with an admin made by 'thresher admin create'; the status API takes tokens from
    'thresher admin token create'. Configuration: docs/serve.md.

    Example: thresher serve --config thresher.toml --port 8080
    """
    from thresher._serving import bind_socket
    from thresher.serve import CONFIG_ENV, Service, configure_logging, load_settings, run
    from thresher.store import Store

    overrides: dict[str, object] = {
        "host": host, "port": port, "log_format": log_format, "log_level": log_level,
        "shutdown_timeout": shutdown_timeout, "database_url": database_url, "background": background,
    }
    if sync_interval is not None:
        overrides["sync"] = {"interval": sync_interval}
    settings = load_settings(config, environ_file=os.environ.get(CONFIG_ENV), **overrides)
    # Bound first: a busy port fails at once in one line, and --port 0's choice is known.
    sock = bind_socket(settings.host, settings.port)
    try:
        configure_logging(settings.log_format, settings.log_level)
        store = Store.open(settings.database_url)
        service = Service(settings, store)
        bound = sock.getsockname()[1]
        where = f"[{settings.host}]" if ":" in settings.host else settings.host
        base = f"http://{where}:{bound}"
        mcp = f"MCP {base}/mcp, " if any(c.name == "mcp" for c in service.components) else ""
        err_console.print(
            f"thresher serve on {base} (dashboard {base}/, SCIM {base}/scim/v2, {mcp}"
            f"API {base}/api/v1/status, metrics {base}/metrics)",
            soft_wrap=True, markup=False, highlight=False,
        )
        if not service.records.list_admins():
            err_console.print("No admin yet: make one with 'thresher admin create --username NAME'.")
        try:
            run(service, sock)
        finally:
            store.close()
    finally:
        sock.close()
