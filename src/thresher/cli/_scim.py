"""``thresher scim ...``: the SCIM 2.0 bridge for identity providers."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import gc
import socket
from typing import TYPE_CHECKING

import typer

from thresher._errors import ThresherError

from ._choices import ScimDeleteMode
from ._console import err_console, out, print_json
from ._options import CONNECTION, DATABASE_URL, json_option
from ._plumbing import open_store

if TYPE_CHECKING:
    from thresher.scim import TokenStore

__all__ = ["scim_app"]

scim_app = typer.Typer(help="Serve the SCIM 2.0 bridge and manage its tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens identity providers use on the bridge.", no_args_is_help=True)
scim_app.add_typer(token_app, name="token")


def _tokens(database_url: str | None) -> TokenStore:
    from thresher.scim import TokenStore

    return TokenStore(open_store(database_url))


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., "--name", help="What the token is for, e.g. okta-prod."),
    allow_cidr: list[str] = typer.Option(  # noqa: B008 - Typer reads defaults at import
        [], "--allow-cidr", help="Accept the token only from this network (repeatable)."
    ),
    read_only: bool = typer.Option(False, "--read-only", help="Refuse writes (403) with this token."),
    json_out: bool = json_option("the token"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Make a bearer token for an identity provider. It is shown once: only a digest is kept.

    Example: thresher scim token create --name okta --allow-cidr 10.0.0.0/8
    """
    from thresher.scim import TokenError

    try:
        token, secret = _tokens(database_url).create(name, allowed_cidrs=allow_cidr, read_only=read_only)
    except TokenError as exc:
        raise ThresherError(str(exc), hint="Pick another --name, or revoke the old token.") from None
    if json_out:
        print_json({**token.as_dict(), "token": secret})
        return
    out.print(f"Token [bold]{token.name}[/] created. Copy it now; thresher cannot show it again:")
    out.print(secret, markup=False, highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list(
    all_tokens: bool = typer.Option(False, "--all", help="Include revoked tokens."),
    json_out: bool = json_option("tokens"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List tokens with where they may be used from and their requests by HTTP status."""
    from rich.table import Table

    tokens = _tokens(database_url).list_tokens(include_revoked=all_tokens)
    if json_out:
        print_json([t.as_dict() for t in tokens])
        return
    if not tokens:
        out.print("No SCIM tokens. Make one with 'thresher scim token create --name NAME'.")
        return
    table = Table("name", "access", "networks", "created", "last used", "requests by status")
    for t in tokens:
        access = "revoked" if t.revoked_at else ("read-only" if t.read_only else "read-write")
        counts = ", ".join(f"{status}: {n}" for status, n in sorted(t.counts.items())) or "none"
        last = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
        table.add_row(
            t.name, access, ", ".join(t.allowed_cidrs) or "any",
            t.created_at.strftime("%Y-%m-%d %H:%M"), last, counts,
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    name: str = typer.Argument(..., help="The token's name."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Revoke a token: its next request gets 401."""
    from thresher.scim import TokenError

    try:
        _tokens(database_url).revoke(name)
    except TokenError as exc:
        raise ThresherError(str(exc), hint="See 'thresher scim token list'.") from None
    out.print(f"Token [bold]{name}[/] revoked.")


@scim_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(
        8080, "--port", min=0, max=65535, help="Port to listen on (0 picks a free one, printed at start)."
    ),
    connection: str | None = CONNECTION,
    delete_mode: ScimDeleteMode = typer.Option(  # noqa: B008 - Typer reads defaults at import
        ScimDeleteMode.archive, "--delete-mode",
        help="DELETE /Users: archive, or delete (archive when Harvest refuses). A connection's "
        "stored mode ('thresher connections config NAME --scim-delete-mode') wins over this flag, "
        "read at each DELETE: no restart needed.",
    ),
    sync_interval: float = typer.Option(
        60.0, "--sync-interval", min=5.0,
        help="Seconds between incremental syncs of the mirror (on a thread of their own: lookups "
        "never wait for a sync).",
    ),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log",
        help="Log each request on stderr: client, method, path, status, size, duration (never the "
        "query string or headers).",
    ),
    forwarded_allow_ips: list[str] = typer.Option(  # noqa: B008 - Typer reads defaults at import
        [], "--forwarded-allow-ips",
        help="Proxy address or network whose X-Forwarded-For names the client (repeatable or "
        "comma-separated; default none: the TCP peer is the client, as --allow-cidr checks it).",
    ),
    max_rate_wait: float = typer.Option(
        20.0, "--max-rate-wait", min=1.0,
        help="Seconds a create may wait for Harvest's rate budget; beyond it, 429 with Retry-After.",
    ),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Serve the SCIM 2.0 bridge at http://HOST:PORT/scim/v2 (put TLS in front of it).

    Lookups are answered from the roster mirror, kept fresh by incremental syncs; writes go to
    Harvest. Identity providers authenticate with 'thresher scim token create' tokens.

    Example: thresher scim serve --port 8080 --connection acme --forwarded-allow-ips 127.0.0.1
    """
    from thresher._serving import bind_socket

    proxies = _proxies(forwarded_allow_ips)
    # Bound before anything else: a busy port fails at once, in one line, like 'sandbox serve',
    # and with --port 0 the port the system picked is known before it is printed.
    sock = bind_socket(host, port)
    try:
        _serve(
            sock, host, connection, delete_mode, sync_interval, access_log, database_url,
            proxies=proxies, max_rate_wait=max_rate_wait,
        )
    finally:
        sock.close()


def _proxies(values: list[str]) -> list[str]:
    """The trusted proxies, one address or network each (``*``: any, only for a private network)."""
    import ipaddress

    proxies = [p.strip() for value in values for p in value.split(",") if p.strip()]
    for proxy in proxies:
        if proxy == "*":
            continue
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise typer.BadParameter(
                f"{proxy!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)",
                param_hint="--forwarded-allow-ips",
            ) from None
    return proxies


def _serve(
    sock: socket.socket, host: str, connection: str | None, delete_mode: ScimDeleteMode,
    sync_interval: float, access_log: bool, database_url: str | None, *, proxies: list[str],
    max_rate_wait: float,
) -> None:
    import uvicorn

    from thresher._serving import proxy_options
    from thresher.connections import open_client, resolve
    from thresher.provision import WriteThrough
    from thresher.scim import BridgeBase, DeleteMode, ScimBridge, TokenStore

    from ._access_log import AccessLog

    store = open_store(database_url)
    resolved = resolve(store, connection, any_provider=True)
    tokens = TokenStore(store)
    if not tokens.list_tokens():
        err_console.print(
            "No SCIM token yet: every request will get 401. "
            "Make one with 'thresher scim token create --name NAME'."
        )
    bridge: BridgeBase
    if resolved.connection.provider == "greenhouse":
        # Greenhouse Recruiting (docs/greenhouse.md §6): Users only; DELETE always deactivates.
        from thresher.connections import open_greenhouse
        from thresher.scim import GreenhouseScimBridge
        from thresher.sync import GreenhouseSync, SyncOptions

        greenhouse = open_greenhouse(store, resolved.connection)
        bridge = GreenhouseScimBridge(
            greenhouse, store, resolved.connection, tokens,
            sync=GreenhouseSync(store, greenhouse, resolved.connection, SyncOptions()),
            sync_interval=sync_interval, close_client=True,
        )
    else:
        client = open_client(store, resolved)
        bridge = ScimBridge(
            WriteThrough(client, store, resolved.connection),
            tokens,
            delete_mode=DeleteMode(delete_mode.value),
            # The sync's own client, made in its own thread: its connections belong to that loop.
            sync_client=lambda: open_client(store, resolved),
            sync_interval=sync_interval,
            close_client=True,
            max_rate_wait=max_rate_wait,
            own_user_id=resolved.own_user_id,
        )
    port = sock.getsockname()[1]
    where = f"[{host}]" if ":" in host else host
    err_console.print(
        f"SCIM bridge for [bold]{resolved.connection.name}[/] on http://{where}:{port}/scim/v2",
        soft_wrap=True,
    )
    app = AccessLog(bridge.app) if access_log else bridge.app
    if proxies:
        err_console.print(f"Client addresses from X-Forwarded-For of: {', '.join(proxies)}", soft_wrap=True)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, **proxy_options(proxies)
    )
    # uvicorn handles Ctrl-C itself: it shuts down gracefully, then raises the signal again, so
    # the CLI still exits 130 (thresher.cli._main).
    # What exists now (imports, the SCIM schemas and models, the bridge) lives as long as the
    # server: frozen, the collector no longer walks it on each full collection, which stalled
    # lookups for up to ~100 ms (bench/scim.py's open loop: p99 26-64 ms -> 12.6-14.2 ms, max
    # 101-159 ms -> 31-53 ms at rest).
    gc.freeze()
    uvicorn.Server(config).run(sockets=[sock])
