"""``thresher sandbox ...``: run the local Harvest."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import enum
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._console import err_console, out
from ._greenhouse_sandbox import Provider, serve_greenhouse
from ._output import Column, OutputFormat, choose_format, print_records

if TYPE_CHECKING:
    from thresher.sandbox import RunningSandbox, Sandbox

#: ``thresher.sandbox``'s MAX_CLOCK_OFFSET (100 years), copied: importing it loads Starlette.
MAX_CLOCK_OFFSET = 100 * 366 * 86400

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
    "Example, a time-scaled sandbox for fast CI and thresher paced to match: thresher sandbox serve "
    "--rate-limit 100/1.5s --outbox-size 500 --rotate-refresh-tokens --max-body-bytes 200000 ; export "
    "HARVEST_RATE_LIMIT=100/1.5s",
    "Every flag below the first group is a setting PUT /sandbox/settings also changes (GET "
    "/sandbox/settings lists them); a value the sandbox cannot use exits with status 2.",
))


def _client_env(sandbox: Sandbox, running: RunningSandbox) -> dict[str, str]:
    """The ``HARVEST_*`` variables that point thresher (or an integration) at this sandbox, with
    ``HARVEST_RATE_LIMIT`` when the sandbox's limit (``time_scale`` applied) is not Harvest's, so
    thresher paces at the sandbox's speed (README, environment table)."""
    creds = sandbox.credentials
    env = {
        "HARVEST_BASE_URL": running.api_url,
        "HARVEST_ID_URL": running.id_url,
        "HARVEST_ACCOUNT_ID": str(creds.account_id),
        "HARVEST_ACCESS_TOKEN": creds.admin_token,
    }
    rule = sandbox.config.rate_limit_rule
    if rule is not None and rule != (100, 15.0):
        window = format(rule[1], "f").rstrip("0").rstrip(".")
        env["HARVEST_RATE_LIMIT"] = f"{rule[0]}/{window}s"
    return env


def _credentials_document(sandbox: Sandbox, running: RunningSandbox) -> dict[str, Any]:
    creds = sandbox.credentials
    return {
        **creds.as_dict(),
        "base_url": running.base_url,
        "api_url": running.api_url,
        "id_url": running.id_url,
        "env": _client_env(sandbox, running),
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
        *(f"export {name}={value}" for name, value in _client_env(sandbox, running).items()),
        'export HARVEST_USER_AGENT="your-app (you@example.com)"',
    ]
    for line in lines:
        # soft_wrap: tokens must stay on one line to be copied.
        out.print(line, soft_wrap=True, markup=False, highlight=False)
    say("Invitations go to the outbox (GET /sandbox/outbox), never to email. Ctrl-C stops.", soft_wrap=True)


class RateLimitScope(enum.StrEnum):
    """``SandboxConfig.rate_limit_scope``."""

    account = "account"
    token = "token"  # noqa: S105 - a scope name, not a secret


class RateLimitWindow(enum.StrEnum):
    """``SandboxConfig.rate_limit_window``."""

    sliding = "sliding"
    fixed = "fixed"


_TRAFFIC = "Traffic (changeable at run time: PUT /sandbox/settings)"
_IDENTITY = "Tokens and OAuth (changeable at run time)"
_CHOICES = "Undocumented behaviours, docs/harvest-api.md §10 (changeable at run time)"
_LIMITS = "Limits and logs (changeable at run time)"


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
        typer.Option("--state", help="JSON state file (mode 0600): loaded if it exists, saved on changes "
                     "and exit."),
    ] = None,
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
    provider: Annotated[
        Provider, typer.Option(help="harvest (getharvest.com), or greenhouse (Greenhouse's API v3).")
    ] = Provider.harvest,
    # -- the settings PUT /sandbox/settings changes (thresher.sandbox's RUNTIME_SETTINGS); each flag
    # is named after its setting, and None leaves SandboxConfig's default.
    rate_limit: Annotated[
        str | None, typer.Option(help="REQUESTS/WINDOW per account: 100/15s (Harvest's, the default), "
                                 "100/1.5s, or off; 75/30s for --provider greenhouse. Point thresher at a "
                                 "scaled limit with HARVEST_RATE_LIMIT.", rich_help_panel=_TRAFFIC)
    ] = None,
    reports_rate_limit: Annotated[
        str | None, typer.Option(help="The Reports API's own limit, §4 (default: 100/15min).",
                                 rich_help_panel=_TRAFFIC)
    ] = None,
    rate_limit_scope: Annotated[
        RateLimitScope | None, typer.Option(help="Count requests per account (v1's rule, the default) or "
                                            "per token.", rich_help_panel=_TRAFFIC)
    ] = None,
    rate_limit_window: Annotated[
        RateLimitWindow | None, typer.Option(help="Sliding window (the default) or fixed windows.",
                                             rich_help_panel=_TRAFFIC)
    ] = None,
    time_scale: Annotated[
        float | None, typer.Option(min=1e-6, max=1e6, help="Multiplies rate-limit windows: 0.1 turns "
                                   "100/15s into 100/1.5s (default: 1).", rich_help_panel=_TRAFFIC)
    ] = None,
    latency_ms: Annotated[
        float, typer.Option(min=0.0, max=600_000, help="Latency added to every answer.",
                            rich_help_panel=_TRAFFIC)
    ] = 0.0,
    clock_offset: Annotated[
        float | None, typer.Option(min=-MAX_CLOCK_OFFSET, max=MAX_CLOCK_OFFSET, help="Seconds the sandbox's "
                                   "clock runs ahead (negative: behind); PUT /sandbox/clock changes it.",
                                   rich_help_panel=_TRAFFIC)
    ] = None,
    token_ttl_seconds: Annotated[
        int | None, typer.Option(min=1, help="Lifetime of OAuth access tokens, §5.2 (default: 1209600, "
                                 "14 days).", rich_help_panel=_IDENTITY)
    ] = None,
    refresh_token_ttl_seconds: Annotated[
        int | None, typer.Option(min=1, help="Lifetime of refresh tokens (default: none, they never "
                                 "expire).", rich_help_panel=_IDENTITY)
    ] = None,
    authorization_code_ttl_seconds: Annotated[
        int | None, typer.Option(min=1, help="Lifetime of OAuth authorization codes (default: 600).",
                                 rich_help_panel=_IDENTITY)
    ] = None,
    rotate_refresh_tokens: Annotated[
        bool | None, typer.Option("--rotate-refresh-tokens/--reuse-refresh-tokens", help="Make refresh "
                                  "tokens single use; by default a used one stays valid, as in Harvest "
                                  "(§5.2).",
                                  rich_help_panel=_IDENTITY, show_default=False)
    ] = None,
    implicit_grant_in_query: Annotated[
        bool | None, typer.Option("--implicit-grant-in-query/--implicit-grant-in-fragment", help="Where the "
                                  "implicit grant puts the token, §5.2 [U] (default: fragment).",
                                  rich_help_panel=_IDENTITY, show_default=False)
    ] = None,
    seat_limit: Annotated[
        int | None, typer.Option(min=1, help="Cap on active users: creating or restoring beyond it is a 422 "
                                 "(§8.4; default: no cap).", rich_help_panel=_CHOICES)
    ] = None,
    duplicate_email_message: Annotated[
        str | None, typer.Option(help="The 422 text for an email in use; must contain {email} (§8.2).",
                                 rich_help_panel=_CHOICES)
    ] = None,
    forbidden_message: Annotated[
        str | None, typer.Option(help="The text of a 403's {\"message\"} (§10).", rich_help_panel=_CHOICES)
    ] = None,
    rename_while_restoring: Annotated[
        bool | None, typer.Option("--rename-while-restoring/--no-rename-while-restoring", help="Let a PATCH "
                                  "that restores an archived user also rename it, §8.3 [U] (default: no).",
                                  rich_help_panel=_CHOICES, show_default=False)
    ] = None,
    create_unknown_roles: Annotated[
        bool | None, typer.Option("--create-unknown-roles/--no-create-unknown-roles", help="Create a role a "
                                  "user PATCH names (§7.5 [U]), else 422 (default: create).",
                                  rich_help_panel=_CHOICES, show_default=False)
    ] = None,
    default_new_user_rate: Annotated[
        float | None, typer.Option(min=0, max=1e12, help="Hourly and cost rate of a user created without "
                                   "them (default: null, as 2019 traffic shows; gotcha 11).",
                                   rich_help_panel=_CHOICES)
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option(min=1, max=2**31 - 1, help="Larger request bodies are a 413 before "
                                 "authentication (default: 1000000).", rich_help_panel=_LIMITS)
    ] = None,
    outbox_size: Annotated[
        int | None, typer.Option(min=0, max=10_000_000, help="Invitations the outbox keeps, newest first; "
                                 "older ones are counted as dropped (default: 10000).",
                                 rich_help_panel=_LIMITS)
    ] = None,
    request_log_size: Annotated[
        int | None, typer.Option(min=0, max=10_000_000, help="Requests GET /sandbox/requests keeps "
                                 "(default: 10000).", rich_help_panel=_LIMITS)
    ] = None,
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
    chosen: dict[str, Any] = {
        "reports_rate_limit": reports_rate_limit, "rate_limit_scope": rate_limit_scope,
        "rate_limit_window": rate_limit_window, "time_scale": time_scale,
        "token_ttl_seconds": token_ttl_seconds, "refresh_token_ttl_seconds": refresh_token_ttl_seconds,
        "authorization_code_ttl_seconds": authorization_code_ttl_seconds,
        "rotate_refresh_tokens": rotate_refresh_tokens, "implicit_grant_in_query": implicit_grant_in_query,
        "seat_limit": seat_limit, "duplicate_email_message": duplicate_email_message,
        "forbidden_message": forbidden_message, "rename_while_restoring": rename_while_restoring,
        "create_unknown_roles": create_unknown_roles, "default_new_user_rate": default_new_user_rate,
        "max_body_bytes": max_body_bytes, "outbox_size": outbox_size, "request_log_size": request_log_size,
    }
    if provider is Provider.greenhouse:
        serve_greenhouse(host=host, port=port, users=users, seed=seed, rate_limit=rate_limit,
                         latency_ms=latency_ms, faults=faults, credentials_json=credentials_json,
                         access_log=access_log,
                         harvest_only=(state, account_id, admin_token, clock_offset, *chosen.values()))
        return
    from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox

    if accounts is not None:  # many accounts: cli/_sandbox_many.py
        from ._sandbox_many import serve_many

        serve_many(
            accounts, users_per_account or users, host=host, port=port, seed=seed,
            rate_limit=rate_limit or "100/15s",
            latency_ms=latency_ms, faults=faults, credentials_json=credentials_json,
            refused=[n for n, v in (("--state", state), ("--account-id", account_id),
                                    ("--admin-token", admin_token)) if v is not None]
            + [f"--{k.replace('_', '-')}" for k, v in chosen.items() if v is not None],
            write_private=_write_private,
        )
        return

    from ._access_log import AccessLog

    settings: dict[str, Any] = {
        name: str(value) if isinstance(value, enum.Enum) else value
        for name, value in chosen.items() if value is not None
    }
    # SandboxConfig checks what the flags cannot (a rate limit's syntax, {email} in the message):
    # a SandboxConfigError is a usage error, exit 2, naming the setting (= the flag).
    config = SandboxConfig(
        users=users, seed=seed, account_id=account_id, admin_token=admin_token, state_file=state,
        rate_limit=rate_limit or "100/15s", latency_ms=latency_ms, faults=faults, **settings,
    )
    sandbox = Sandbox(config)
    if clock_offset is not None:
        sandbox.set_clock_offset(clock_offset)
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


_FIDELITY_HELP = "\n\n".join((
    "List every documented behaviour the sandbox implements: what it does, where it is documented "
    "(docs/harvest-api.md section and confidence mark, harvest-openapi.yaml, or the sandbox's own "
    "feature), the tests that check it, and any known deviation from Harvest.",
    "A table on a terminal, tab-separated rows when piped, --json for everything, --markdown for "
    "docs/sandbox-fidelity.md.",
    "Example: thresher sandbox fidelity --json | jq '.behaviours[] | select(.mark == \"U\") | .name'",
))


@sandbox_app.command("fidelity", help=_FIDELITY_HELP)
def fidelity(
    json_out: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
    fmt: Annotated[
        OutputFormat | None, typer.Option("--format", help="table, plain, json or jsonl (default: table on a "
                                          "terminal, plain when piped).")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print docs/sandbox-fidelity.md (the Markdown form).")
    ] = False,
) -> None:
    """List the sandbox's behaviours, their sources and tests (help text: ``_FIDELITY_HELP``)."""
    from thresher.sandbox import Behaviour, fidelity_report

    report = fidelity_report()
    if markdown:
        if json_out or fmt is not None:
            raise typer.BadParameter("--markdown takes neither --json nor --format",
                                     param_hint="'--markdown'")
        sys.stdout.write(report.markdown())
        return
    chosen = choose_format(fmt, json_out)
    columns: list[Column[Behaviour]]
    if chosen is OutputFormat.PLAIN:
        columns = [
            Column("behaviour", lambda b: b.name), Column("what", lambda b: b.what),
            Column("source", lambda b: b.source), Column("mark", lambda b: b.mark),
            Column("tests", lambda b: " ".join(b.tests)), Column("deviation", lambda b: b.deviation or ""),
        ]
    else:
        columns = [
            Column("Behaviour", lambda b: b.name),
            Column("What the sandbox does",
                   lambda b: b.what + (f". Deviation: {b.deviation}" if b.deviation else "")),
            Column("Source", lambda b: b.source if b.mark == "-" else f"{b.source} [{b.mark}]"),
            Column("Tests", lambda b: str(len(b.tests)), whole=True),
        ]
    print_records(
        list(report.behaviours), columns, chosen, lambda b: b.as_dict(), document=report.as_dict(),
        title="Sandbox fidelity",
        summary=f"{len(report.behaviours)} behaviours, {len(report.tests)} tests, "
        f"{len(report.deviations)} deviations from harvest-openapi.yaml; --json for the test ids.",
    )
