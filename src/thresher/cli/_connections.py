"""``thresher connections test`` (like ``gh auth status``) and ``thresher accounts list``: what a
connection's token is and what it reaches, asked of Harvest.

``connections test`` costs two requests: ``GET /v2/users/me`` (who the token is, in the
connected account: docs/harvest-api.md §6.1) and ``GET {id_url}/api/v2/accounts`` (which accounts
it reaches, §5.3). ``accounts list`` costs the second one only.
"""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

import typer

from thresher._errors import ThresherError

from ._connection_config import connections_config
from ._console import out, print_json
from ._json import timestamp
from ._login import connections_app
from ._options import CONNECTION, DATABASE_URL, FORMAT, JSON
from ._output import Column, OutputFormat, choose_format, print_records
from ._plumbing import open_store, read_store

if TYPE_CHECKING:
    from thresher.connections import ResolvedConnection
    from thresher.harvest import Account, IdentityAccounts, User
    from thresher.store import Store

__all__ = ["accounts_app", "connections_app", "connections_test", "store_for_harvest"]

accounts_app = typer.Typer(help="Harvest accounts a connection's token reaches.", no_args_is_help=True)

#: What ``HARVEST_RATE_LIMIT`` is called where the rate limit comes from.
_RATE_LIMIT_ENV = "HARVEST_RATE_LIMIT"


def store_for_harvest(database_url: str | None) -> Store:
    """The store, created only when the ``HARVEST_*`` variables form a connection to record in it;
    without them and without a store there is no connection to test (exit 78)."""
    from thresher.connections import NoConnectionError
    from thresher.store import StoreNotFoundError

    try:
        return read_store(database_url)
    except StoreNotFoundError:
        if os.environ.get("HARVEST_ACCESS_TOKEN") and os.environ.get("HARVEST_ACCOUNT_ID"):
            return open_store(database_url)
        raise NoConnectionError(
            "no Harvest connection is configured (there is no store yet)",
            hint="Run 'thresher login', or set HARVEST_ACCESS_TOKEN, HARVEST_ACCOUNT_ID and "
            "HARVEST_USER_AGENT.",
        ) from None


def _resolve(store: Store, name: str | None) -> ResolvedConnection:
    """``resolve``, with an unknown name reported as a missing connection (exit 78)."""
    from thresher.connections import NoConnectionError, resolve
    from thresher.store import UnknownConnectionError

    try:
        return resolve(store, name)
    except UnknownConnectionError as exc:
        raise NoConnectionError(str(exc), hint=exc.hint) from None


def _refused_hint(resolved: ResolvedConnection) -> str:
    fix = (
        "set a new HARVEST_ACCESS_TOKEN" if resolved.credentials is None
        else f"log in again: thresher login --name {resolved.name}"
    )
    return (
        f"The token is expired, revoked, or not valid for account {resolved.connection.account_id}; "
        f"{fix}. 'thresher accounts list' shows the accounts a working token reaches."
    )


def _identity(
    store: Store, resolved: ResolvedConnection, *, me: bool, all_products: bool = False
) -> tuple[User | None, IdentityAccounts | str, tuple[int, float]]:
    """``GET /v2/users/me`` (when ``me``), then the identity service's accounts (for
    ``connections test``: or why they could not be read); and the rate limit the client used.
    A refused token fails with the client's own error (exit 77) and a hint for the command line."""
    import asyncio

    from thresher.connections import open_client
    from thresher.harvest import AuthenticationError

    async def go() -> tuple[User | None, IdentityAccounts | str, tuple[int, float]]:
        async with open_client(store, resolved) as client:
            user = await client.me() if me else None
            identity: IdentityAccounts | str
            try:
                identity = await client.get_identity(harvest_only=not all_products)
            except ThresherError as exc:
                if not me or isinstance(exc, AuthenticationError):
                    raise
                identity = f"(unavailable: {exc})"
            return user, identity, (client.settings.rate_limit, client.settings.window)

    try:
        return asyncio.run(go())
    except AuthenticationError as exc:
        exc.hint = _refused_hint(resolved)
        raise


def _token(resolved: ResolvedConnection, store: Store) -> dict[str, Any]:
    """What kind of token the connection holds and when it expires, read after the requests (an
    OAuth token they refreshed was saved by then)."""
    from thresher.connections import resolve

    creds = resolved.credentials
    if creds is None:
        # HARVEST_ACCESS_TOKEN: a personal access token or an OAuth access token, which thresher
        # cannot tell apart and does not refresh.
        return {"kind": "environment", "expires_at": None, "refreshes": False}
    if creds.kind == "oauth":
        latest = resolve(store, resolved.name).credentials or creds
        return {"kind": "oauth", "expires_at": timestamp(latest.expires_at),
                "refreshes": bool(latest.refresh_token and latest.client_id)}
    return {"kind": "pat", "expires_at": None, "refreshes": False}


def _token_text(token: dict[str, Any]) -> str:
    if token["kind"] == "pat":
        return "personal access token (no expiry)"
    if token["kind"] == "environment":
        return "from HARVEST_ACCESS_TOKEN (a personal or OAuth access token; not refreshed)"
    expires = token["expires_at"]
    text = "OAuth access token"
    if expires:
        when = dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
        left = when - dt.datetime.now(dt.UTC)
        text += f", expires {when:%Y-%m-%d %H:%M} UTC"
        text += f" (in {left.days} days)" if left.days >= 1 else " (within a day)"
    return text + ("; refreshed automatically" if token["refreshes"] else "; not refreshable")


def _rate_text(rate: dict[str, Any]) -> str:
    window = rate["window_seconds"]
    source = "HARVEST_RATE_LIMIT" if rate["source"] == _RATE_LIMIT_ENV else "Harvest's limit"
    return f"{rate['requests']} requests per {window:g} s ({source})"


def connections_test(
    name: str | None = typer.Argument(
        None, help="Connection name (default: the HARVEST_* variables, else the default one)."
    ),
    json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Check a connection against Harvest: who the token is, which account, admin or not, the
    token's expiry and the rate limit in effect.

    For a Greenhouse connection: which read scopes its credential has (docs/greenhouse.md §6).
    Exits 77 when Harvest (or Greenhouse) refuses the credential, 78 when there is no such
    connection.

    Example: thresher connections test acme
    """
    from ._greenhouse import greenhouse_connection, report_greenhouse_connection

    store = store_for_harvest(database_url)
    greenhouse = greenhouse_connection(store, name)
    if greenhouse is not None:
        report_greenhouse_connection(store, greenhouse, json_out=json_out)
        return
    resolved = _resolve(store, name)
    user, identity, (limit, window) = _identity(store, resolved, me=True)
    assert user is not None
    conn = resolved.connection
    accounts: list[dict[str, Any]] | str
    account_name = None
    if isinstance(identity, str):
        accounts = identity
    else:
        accounts = [
            {"id": a.id, "name": a.name, "product": a.product, "connected": a.id == conn.account_id}
            for a in identity.accounts
        ]
        account_name = next((a.name for a in identity.accounts if a.id == conn.account_id), None)
    token = _token(resolved, store)
    rate = {
        "requests": limit, "window_seconds": window,
        "source": _RATE_LIMIT_ENV if os.environ.get(_RATE_LIMIT_ENV, "").strip() else "default",
    }
    report: dict[str, Any] = {
        "connection": conn.name,
        "source": "environment" if resolved.credentials is None else "saved",
        "is_default": conn.is_default,
        "base_url": resolved.settings.base_url,
        "account_id": conn.account_id,
        "account_name": account_name or conn.label,
        "user": {"id": user.id, "first_name": user.first_name, "last_name": user.last_name,
                 "email": user.email},
        "access_roles": list(user.access_roles),
        "administrator": "administrator" in user.access_roles,
        "token": token,
        "rate_limit": rate,
        "accounts": accounts,
    }
    if json_out:
        print_json(report)
        return
    how = "from the HARVEST_* variables" if report["source"] == "environment" else "saved"
    lines = [
        f"Connection {conn.name} ({how}{', default' if conn.is_default else ''}): the token works.",
        f"  account       {conn.account_id} ({report['account_name'] or 'name unknown'}) at "
        f"{report['base_url']}",
        f"  logged in as  {user.full_name} <{user.email}> (user id {user.id})",
        f"  access roles  {', '.join(user.access_roles) or '-'}",
        "  administrator "
        + ("yes" if report["administrator"] else
           "no: Harvest refuses most user changes (and other people's records) to this token"),
        f"  token         {_token_text(token)}",
        f"  rate limit    {_rate_text(rate)}",
    ]
    if isinstance(accounts, str):
        lines.append(f"  accounts      {accounts}")
    else:
        listed = [f"{a['id']} {a['name']}" + (" (this one)" if a["connected"] else "") for a in accounts]
        lines.append(f"  accounts      {len(listed)} reachable: {'; '.join(listed) or 'none'}")
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


ACCOUNT_COLUMNS: list[Column[Any]] = [
    Column("id", lambda a: str(a["id"]), whole=True),
    Column("name", lambda a: a["name"]),
    Column("product", lambda a: a["product"], whole=True),
    Column("connected", lambda a: "*" if a["connected"] else "", whole=True),
]


@accounts_app.command("list")
def accounts_list(
    all_products: bool = typer.Option(
        False, "--all-products", help="Also list Forecast accounts (thresher manages Harvest's)."
    ),
    connection: str | None = CONNECTION,
    fmt: OutputFormat | None = FORMAT,
    json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """List the accounts the connection's token reaches; the connected one is marked.

    Example: thresher accounts list --json
    """
    output = choose_format(fmt, json_out)
    store = store_for_harvest(database_url)
    resolved = _resolve(store, connection)
    _, identity, _ = _identity(store, resolved, me=False, all_products=all_products)
    assert not isinstance(identity, str)
    account_id = resolved.connection.account_id
    accounts: list[Account] = list(identity.accounts)
    rows = [
        {"id": a.id, "name": a.name, "product": a.product, "connected": a.id == account_id}
        for a in accounts
    ]
    print_records(
        rows, ACCOUNT_COLUMNS, output, lambda row: row,
        summary=f"{len(rows)} account(s) reachable as {identity.user.email}",
    )


# The `connections` group: `list`, `use` and `remove` (cli/_login.py), then these two.
connections_app.command("test")(connections_test)
connections_app.command("config")(connections_config)
