"""``thresher login`` and ``thresher connections ...``: saved Harvest connections."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from thresher._errors import ThresherError

from ._console import UsageError, err_console, out, print_json
from ._options import DATABASE_URL, JSON
from ._plumbing import describe, open_store

if TYPE_CHECKING:
    from thresher.connections import Credentials
    from thresher.harvest import HarvestSettings

__all__ = ["connections_app", "login"]

connections_app = typer.Typer(help="Manage saved Harvest connections.", no_args_is_help=True)

DEFAULT_REDIRECT = "http://127.0.0.1:8910/oauth/callback"


def _read_token(token: str | None, token_stdin: bool) -> str:
    if token_stdin:
        token = sys.stdin.readline().strip()
    elif token is None:
        token = typer.prompt("Personal access token", hide_input=True)
    if not token or not token.strip():
        raise UsageError(
            "no access token was given",
            hint="Create one at https://id.getharvest.com/developers and paste it when asked.",
        )
    return token.strip()


def _pick_account(accounts: list[tuple[int, str]], account_id: int | None) -> tuple[int, str]:
    if account_id is not None:
        for acc in accounts:
            if acc[0] == account_id:
                return acc
        raise ThresherError(
            f"this token cannot reach Harvest account {account_id}",
            hint="Accounts it reaches: " + ", ".join(f"{i} ({n})" for i, n in accounts) + ".",
        )
    if not accounts:
        raise ThresherError(
            "this identity has no Harvest account",
            hint="Sign in with a user of the Harvest account you want to manage.",
        )
    if len(accounts) == 1:
        return accounts[0]
    if not sys.stdin.isatty():
        raise UsageError(
            f"this token reaches {len(accounts)} Harvest accounts",
            hint="Pick one with --account-id: " + ", ".join(f"{i} ({n})" for i, n in accounts) + ".",
        )
    for n, (ident, name) in enumerate(accounts, 1):
        err_console.print(f"  {n}. {name} ({ident})")
    # typer vendors its own click: the click package's range type is not one of its types, so
    # the range is checked here (asking again, as a range type would).
    while True:
        choice: int = typer.prompt("Account", type=int, default=1)
        if 1 <= choice <= len(accounts):
            return accounts[choice - 1]
        err_console.print(f"Pick a number from 1 to {len(accounts)}.")


def _oauth_credentials(
    settings: HarvestSettings, client_id: str | None, client_secret: str | None,
    redirect_uri: str, no_browser: bool,
) -> Credentials:
    import asyncio

    from thresher.connections import Credentials, oauth_login
    from thresher.harvest import OAuthApp

    if not (client_id and client_secret):
        raise UsageError(
            "OAuth login needs the app's client id and secret",
            hint="Pass --client-id and --client-secret, or set HARVEST_CLIENT_ID and "
            "HARVEST_CLIENT_SECRET.",
        )
    oauth_app = OAuthApp(client_id, client_secret, settings.id_url, settings.user_agent)

    def show(url: str) -> None:
        sys.stderr.write(f"Open this URL to authorize thresher: {url}\n")
        sys.stderr.flush()
        if not no_browser:
            import webbrowser

            webbrowser.open(url)

    tok = asyncio.run(oauth_login(oauth_app, redirect_uri, show))
    return Credentials(
        kind="oauth", access_token=tok.access_token, user_agent=settings.user_agent,
        refresh_token=tok.refresh_token, expires_at=tok.expires_at, client_id=client_id,
        client_secret=client_secret, scope=tok.scope,
    )


def login(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "--name", help="Name to save the connection as."),
    token: str | None = typer.Option(
        None, "--token", help="Personal access token (prefer the hidden prompt or --token-stdin)."
    ),
    token_stdin: bool = typer.Option(False, "--token-stdin", help="Read the token from stdin."),
    oauth: bool = typer.Option(False, "--oauth", help="Log in with OAuth2 in the browser."),
    client_id: str | None = typer.Option(None, "--client-id", envvar="HARVEST_CLIENT_ID"),
    client_secret: str | None = typer.Option(
        None, "--client-secret", envvar="HARVEST_CLIENT_SECRET", show_envvar=True
    ),
    redirect_uri: str = typer.Option(
        DEFAULT_REDIRECT, "--redirect-uri", help="The OAuth app's registered redirect URL."
    ),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL; do not open it."),
    account_id: int | None = typer.Option(None, "--account-id", help="Harvest account to use."),
    base_url: str | None = typer.Option(None, "--base-url", envvar="HARVEST_BASE_URL"),
    id_url: str | None = typer.Option(None, "--id-url", envvar="HARVEST_ID_URL"),
    user_agent: str | None = typer.Option(None, "--user-agent", envvar="HARVEST_USER_AGENT"),
    make_default: bool = typer.Option(True, "--default/--no-default", help="Make it the default."),
    json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
    provider: str = typer.Option(
        "harvest", "--provider", help="harvest, or greenhouse (Greenhouse Recruiting's API v3)."
    ),
    sub: str | None = typer.Option(
        None, "--sub", envvar="GREENHOUSE_SUB", help="Greenhouse: the Site Admin's user id to act as."
    ),
    client_secret_stdin: bool = typer.Option(
        False, "--client-secret-stdin", help="Greenhouse: read the client secret from stdin."
    ),
    token_url: str | None = typer.Option(
        None, "--token-url", envvar="GREENHOUSE_TOKEN_URL", help="Greenhouse: the token endpoint."
    ),
) -> None:
    """Log in to Harvest (or Greenhouse) and save the connection, with its credentials encrypted.

    A personal access token is asked for without echo (or read with --token-stdin); --oauth runs
    the authorization-code flow with a listener on 127.0.0.1. With --provider greenhouse it saves
    a Greenhouse Recruiting credential (docs/greenhouse.md): --client-id, --sub, and the secret
    from a hidden prompt, --client-secret-stdin or GREENHOUSE_CLIENT_SECRET.

    Example: thresher login --name acme --user-agent "Acme Ops (ops@acme.example)"
    """
    import asyncio

    if provider not in ("harvest", "greenhouse"):
        raise typer.BadParameter("use harvest or greenhouse", param_hint="'--provider'")
    if provider == "greenhouse":
        from ._greenhouse import greenhouse_login

        def source(param: str) -> str | None:
            found = ctx.get_parameter_source(param)
            return None if found is None else found.name

        greenhouse_login(
            name=name, client_id=client_id, client_id_source=source("client_id"),
            client_secret_source=source("client_secret"),
            client_secret_stdin=client_secret_stdin, sub=sub,
            base_url=base_url if source("base_url") == "COMMANDLINE" else None,
            token_url=token_url, make_default=make_default, json_out=json_out,
            database_url=database_url,
        )
        return
    from thresher.connections import Credentials, reachable_accounts, save_connection, token_owner
    from thresher.harvest import HarvestSettings

    urls: dict[str, Any] = {k: v for k, v in {"base_url": base_url, "id_url": id_url}.items() if v}
    settings = HarvestSettings(user_agent=user_agent or "", **urls)
    store = open_store(database_url)
    if oauth:
        creds = _oauth_credentials(settings, client_id, client_secret, redirect_uri, no_browser)
    else:
        creds = Credentials(
            kind="pat", access_token=_read_token(token, token_stdin), user_agent=settings.user_agent
        )
    settings = settings.replace(access_token=creds.access_token)
    accounts = asyncio.run(reachable_accounts(settings))
    chosen_id, chosen_name = _pick_account([(a.id, a.name) for a in accounts], account_id)
    settings = settings.replace(account_id=chosen_id)
    user = asyncio.run(token_owner(settings))
    creds = dataclasses.replace(creds, user_id=user.id)
    conn_name = name or f"harvest-{chosen_id}"
    save_connection(
        store, conn_name, settings, creds, label=chosen_name, make_default=make_default
    )
    admin = "administrator" in user.access_roles
    if not admin:
        err_console.print(
            f"[yellow]Warning:[/] {user.email} is not an administrator of {chosen_name}: Harvest "
            "refuses most user changes (and /v2/users for members) to this token."
        )
    if json_out:
        print_json({
            "connection": conn_name, "account_id": chosen_id, "account_name": chosen_name,
            "user": {"id": user.id, "email": user.email}, "administrator": admin,
            "auth": creds.kind,
        })
        return
    out.print(
        f"Logged in to [bold]{chosen_name}[/] ({chosen_id}) as {describe(user)}; saved as "
        f"connection [bold]{conn_name}[/]" + (" (default)." if make_default else ".")
    )
    if os.environ.get("HARVEST_ACCESS_TOKEN") and os.environ.get("HARVEST_ACCOUNT_ID"):
        err_console.print(
            f"Note: the HARVEST_* variables are set and take precedence; pass --connection "
            f"{conn_name} to use this login, or unset them."
        )


@connections_app.command("list")
def connections_list(json_out: bool = JSON, database_url: str | None = DATABASE_URL) -> None:
    """List saved connections (credentials are never shown).

    Example: thresher connections list --json
    """
    from rich.table import Table

    from thresher.connections import ENV_CONNECTION

    connections = open_store(database_url).list_connections()
    if json_out:
        print_json([c.as_dict() for c in connections])
        return
    table = Table("name", "provider", "account", "label", "api", "credentials", "default")
    for c in connections:
        table.add_row(
            c.name, c.provider, str(c.account_id) if c.provider == "harvest" else "-",
            c.label or "", c.base_url,
            "saved" if c.credentials_ref else ("environment" if c.name == ENV_CONNECTION else "none"),
            "*" if c.is_default else "",
        )
    out.print(table)


@connections_app.command("use")
def connections_use(
    name: str = typer.Argument(..., help="Connection name."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Make a saved connection the default (the HARVEST_* variables, when set, still win).

    Example: thresher connections use acme
    """
    conn = open_store(database_url).set_default_connection(name)
    out.print(f"[bold]{conn.name}[/] (account {conn.account_id}) is now the default connection.")


@connections_app.command("remove")
def connections_remove(
    name: str = typer.Argument(..., help="Connection name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Forget a connection, its credentials and its roster mirror (Harvest is not touched).

    The mirror's change log, SCIM externalIds and enterprise fields exist nowhere else, so this
    asks first; without a terminal it needs --yes.

    Example: thresher connections remove acme --yes
    """
    store = open_store(database_url)
    conn = store.get_connection(name)
    if not yes:
        if not sys.stdin.isatty():
            raise ThresherError(
                f"removing connection {name!r} deletes its mirror and change log; "
                "refusing without confirmation",
                hint=f"Run it in a terminal to confirm, or pass --yes: "
                f"thresher connections remove {name} --yes",
            )
        if not typer.confirm(
            f"Remove connection {name!r} (account {conn.account_id}) with its mirror, change log "
            "and SCIM data?"
        ):
            raise typer.Abort()
    store.remove_connection(name)
    out.print(f"Removed connection [bold]{name}[/].")
