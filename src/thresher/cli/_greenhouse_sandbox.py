"""``thresher sandbox serve --provider greenhouse``: run the local Greenhouse API v3.

Kept apart from ``_sandbox.py`` (the Harvest sandbox's command) so that file only dispatches.
Heavy stacks are imported inside the function (tests/cli/test_startup.py).
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import enum
import json
import os
import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from ._console import err_console, out

__all__ = ["Provider", "serve_greenhouse"]


class Provider(enum.StrEnum):
    """``sandbox serve --provider``: which product the sandbox plays (two unrelated "Harvest"s)."""

    harvest = "harvest"
    greenhouse = "greenhouse"


#: Greenhouse's documented example: 75 requests per fixed 30-second window (docs/greenhouse.md).
DEFAULT_RATE_LIMIT = "75/30s"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def serve_greenhouse(
    *,
    host: str,
    port: int,
    users: int,
    seed: int,
    rate_limit: str | None,
    latency_ms: float,
    faults: str | None,
    credentials_json: Path | None,
    access_log: bool,
    harvest_only: tuple[object, ...] = (),
) -> None:
    """Serve until Ctrl-C or SIGTERM, printing the credentials and the lines to export.
    ``harvest_only``: the values of --state, --account-id, --admin-token and the control-plane
    setting flags, which only the Harvest sandbox has."""
    if any(value is not None for value in harvest_only):
        raise typer.BadParameter(
            "--state, --account-id, --admin-token and the setting flags belong to the Harvest "
            "sandbox; the Greenhouse sandbox takes --users, --seed, --rate-limit, --latency-ms and --faults."
        )
    from thresher.greenhouse_sandbox import GreenhouseSandbox, GreenhouseSandboxConfig, run_greenhouse_sandbox

    from ._access_log import AccessLog

    sandbox = GreenhouseSandbox(
        GreenhouseSandboxConfig(
            users=users,
            seed=seed,
            rate_limit=rate_limit or DEFAULT_RATE_LIMIT,
            latency_ms=latency_ms,
            faults=faults,
        )
    )
    if access_log:
        sandbox.app.add_middleware(AccessLog)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            previous[sig] = signal.signal(sig, request_stop)
    try:
        with run_greenhouse_sandbox(sandbox, host, port) as running:
            document = {
                **sandbox.credentials_document(),
                "base_url": running.base_url,
                "api_url": running.api_url,
                "token_url": running.token_url,
                "env": {
                    "GREENHOUSE_BASE_URL": running.api_url,
                    "GREENHOUSE_TOKEN_URL": running.token_url,
                    "GREENHOUSE_CLIENT_ID": sandbox.credential("full").client_id,
                    "GREENHOUSE_CLIENT_SECRET": sandbox.credential("full").client_secret,
                    "GREENHOUSE_SUB": str(sandbox.state.admin_id),
                    "GREENHOUSE_RATE_LIMIT": sandbox.config.rate_limit or "off",
                },
            }
            if credentials_json is not None:
                _write_private(credentials_json, json.dumps(document, indent=2))
            out.print(
                f"[bold]Sandbox Greenhouse[/] (API v3) at {running.base_url}  "
                f"({len(sandbox.state.users)} users)",
                soft_wrap=True,
            )
            lines = [
                f"{c['name']:<10} client id {c['client_id']}  secret {c['client_secret']}  "
                f"({len(c['scopes'])} scopes)"
                for c in document["credentials"]
            ]
            lines += [
                f"Site Admin sub:   {sandbox.state.admin_id}   (Basic user: {sandbox.state.basic_id})",
                f"Control token:    {sandbox.state.control_token}   (for {running.base_url}/sandbox/...)",
                "",
                "Export these to point thresher (or your integration) at it:",
                *(f"export {k}={v}" for k, v in document["env"].items()),
            ]
            for line in lines:
                out.print(line, soft_wrap=True, markup=False, highlight=False)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err_console.print("Stopped.")
