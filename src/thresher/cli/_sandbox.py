"""``thresher sandbox ...``: run the local Harvest."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._console import err_console, out

if TYPE_CHECKING:
    from thresher.sandbox import RunningSandbox, Sandbox

sandbox_app = typer.Typer(
    help="Run a local Harvest (the sandbox) for tests and offline integration work.",
    no_args_is_help=True,
)

_FAULTS_HELP = (
    "Injected faults, comma-separated, seeded: NNN:P (answer status NNN, 500..599, with "
    "probability P), drop:P (close the connection mid-response), lost:P (process the request, "
    "then drop the answer), 429burst:PxN (N consecutive 429s), delay:P@200ms, seed=N. Change at "
    "run time with PUT /sandbox/faults."
)


# One string per paragraph: Rich keeps a docstring's line breaks, which wrap badly in --help.
_SERVE_HELP = "\n\n".join((
    "Serve a local Harvest API v2 and identity service on one port.",
    "The API answers under /v2 (HARVEST_BASE_URL=http://HOST:PORT/v2), the identity service "
    "(accounts, OAuth authorize and token) on the same origin (HARVEST_ID_URL=http://HOST:PORT), "
    "and the control plane under /sandbox with the printed control token. At start it prints the "
    "account id, personal access tokens for an administrator, a manager with teammates and a "
    "member, the OAuth client, and the lines to export.",
    "Faults example: --faults 500:0.05,502:0.02,drop:0.01,delay:0.1@200ms,429burst:0.01x5,seed=7",
    "Example: thresher sandbox serve --users 200 --rate-limit 100/1.5s --credentials-json creds.json",
))


def _credentials_document(sandbox: Sandbox, running: RunningSandbox) -> dict[str, Any]:
    creds = sandbox.credentials
    return {
        **creds.as_dict(),
        "base_url": running.base_url,
        "api_url": running.api_url,
        "id_url": running.id_url,
        "env": {
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "HARVEST_ACCOUNT_ID": str(creds.account_id),
            "HARVEST_ACCESS_TOKEN": creds.admin_token,
        },
    }


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: it holds tokens."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # also when the file existed with wider permissions
        handle.write(text)


def _describe(sandbox: Sandbox, running: RunningSandbox) -> None:
    creds, state = sandbox.credentials, sandbox.state
    say = out.print

    def owner(token: str) -> str:
        user = sandbox.user_for_token(token)
        return "" if user is None else f"  ({user.name}, user {user.id})"

    say(f"[bold]Sandbox Harvest[/] at {running.base_url}  "
        f"({len(state.users)} users, company {state.company.name})", soft_wrap=True)
    lines = [
        f"Account id:        {creds.account_id}   (Forecast: {creds.forecast_account_id})",
        f"Administrator PAT: {creds.admin_token}{owner(creds.admin_token)}",
        f"Manager PAT:       {creds.manager_token}{owner(creds.manager_token)}",
        f"Member PAT:        {creds.member_token}{owner(creds.member_token)}",
        f"OAuth client id:   {creds.oauth_client_id}",
        f"OAuth secret:      {creds.oauth_client_secret}",
        f"OAuth redirect:    {creds.oauth_redirect_uri}",
        f"Control token:     {creds.control_token}   (Authorization for {running.base_url}/sandbox/...)",
        "",
        "Export these to point thresher (or your integration) at the sandbox:",
        f"export HARVEST_BASE_URL={running.api_url}",
        f"export HARVEST_ID_URL={running.id_url}",
        f"export HARVEST_ACCOUNT_ID={creds.account_id}",
        f"export HARVEST_ACCESS_TOKEN={creds.admin_token}",
        'export HARVEST_USER_AGENT="your-app (you@example.com)"',
    ]
    for line in lines:
        # soft_wrap: tokens must stay on one line to be copied.
        out.print(line, soft_wrap=True, markup=False, highlight=False)
    say("Invitations go to the outbox (GET /sandbox/outbox), never to email. Ctrl-C stops.", soft_wrap=True)


@sandbox_app.command("serve", help=_SERVE_HELP)
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; keep the loopback default.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 8765,
    users: Annotated[int, typer.Option(min=3, help="Users in the generated account.")] = 25,
    seed: Annotated[int, typer.Option(help="Seed of the account: same seed, same data and tokens.")] = 1,
    account_id: Annotated[
        int | None, typer.Option(min=1, help="Harvest account id (default: from the seed).")
    ] = None,
    admin_token: Annotated[
        str | None, typer.Option(help="The administrator's token (default: from the seed).")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="JSON state file: loaded if it exists, saved on changes and exit."),
    ] = None,
    rate_limit: Annotated[
        str, typer.Option(help="REQUESTS/WINDOW per account: 100/15s (Harvest's), 100/1.5s, or off.")
    ] = "100/15s",
    latency_ms: Annotated[float, typer.Option(min=0.0, help="Latency added to every answer.")] = 0.0,
    faults: Annotated[str | None, typer.Option(help=_FAULTS_HELP)] = None,
    credentials_json: Annotated[
        Path | None, typer.Option(help="Also write the credentials and URLs to this file (mode 0600).")
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log each request on stderr: client, method, path, status, size, duration (never "
            "the query string or headers).",
        ),
    ] = False,
    accounts: Annotated[
        int | None,
        typer.Option(min=1, help="Serve this many independent accounts on the port (tokens per account; "
                     "see --credentials-json). Example: --accounts 50 --users-per-account 20"),
    ] = None,
    users_per_account: Annotated[
        int | None, typer.Option(min=3, help="Users in each account with --accounts (default --users).")
    ] = None,
) -> None:
    """Serve the sandbox until Ctrl-C or SIGTERM (help text: ``_SERVE_HELP``)."""
    from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox

    if accounts is not None:  # many accounts: cli/_sandbox_many.py
        from ._sandbox_many import serve_many

        serve_many(
            accounts, users_per_account or users, host=host, port=port, seed=seed, rate_limit=rate_limit,
            latency_ms=latency_ms, faults=faults, credentials_json=credentials_json,
            refused=[n for n, v in (("--state", state), ("--account-id", account_id),
                                    ("--admin-token", admin_token)) if v is not None],
            write_private=_write_private,
        )
        return

    from ._access_log import AccessLog

    config = SandboxConfig(
        users=users, seed=seed, account_id=account_id, admin_token=admin_token, state_file=state,
        rate_limit=rate_limit, latency_ms=latency_ms, faults=faults,
    )
    sandbox = Sandbox(config)
    if access_log:
        sandbox.app.add_middleware(AccessLog)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: Ctrl-C still works
            previous[sig] = signal.signal(sig, request_stop)
    try:
        with run_sandbox(sandbox, host, port) as running:
            if host not in ("127.0.0.1", "localhost", "::1"):
                err_console.print(
                    f"[yellow]Warning:[/] listening on {host}: anyone who can reach it can use the "
                    "printed tokens.",
                )
            if credentials_json is not None:
                document = _credentials_document(sandbox, running)
                _write_private(credentials_json, json.dumps(document, indent=2))
            _describe(sandbox, running)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if state is not None:
        err_console.print(f"Stopped; the data is in {state}.")
    else:
        err_console.print("Stopped.")
