"""Greenhouse Recruiting connections in the CLI: ``thresher login --provider greenhouse`` and
``thresher connections test`` (either provider). docs/greenhouse.md §6 lists what a Greenhouse
connection offers; a Harvest-only command on one exits 2 naming it
(``thresher.connections.UnsupportedProviderError``).

The client secret is never taken as a command-line value (it would sit in shell history and
``ps``): a hidden prompt, ``--client-secret-stdin`` or ``GREENHOUSE_CLIENT_SECRET``.
"""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import typer

from thresher._errors import ThresherError

from ._console import err_console, out, print_json
from ._plumbing import open_store

if TYPE_CHECKING:
    from thresher.greenhouse import AsyncGreenhouse
    from thresher.store import Store, StoredConnection

__all__ = [
    "GREENHOUSE_ACCESS_ROLES",
    "greenhouse_access_role",
    "greenhouse_connection",
    "greenhouse_login",
    "report_greenhouse_connection",
]

#: ``users list --access-role`` on a Greenhouse connection. Greenhouse's user permission levels
#: are Site Admin, Job Admin and Basic (docs/greenhouse.md §6); the mirror keeps Site Admin (a
#: user field, ``access_roles`` ``site_admin``), while Job Admin and Basic differ only by job
#: permissions, which the sync does not read: those two are refused saying so, not guessed.
GREENHOUSE_ACCESS_ROLES = ("site_admin",)
_UNMIRRORED_LEVELS = ("job_admin", "basic")

#: The read families ``connections test`` tries (one request each), by the scope each needs.
_PROBES = (
    ("harvest:users:list", "users (sync, roster, SCIM)"),
    ("harvest:user_roles:list", "user roles"),
    ("harvest:user_job_permissions:list", "job permissions"),
    ("harvest:future_job_permissions:list", "future job permissions"),
)


def _usage(message: str, hint: str) -> typer.BadParameter:
    return typer.BadParameter(f"{message}. {hint}")


def greenhouse_access_role(value: str) -> str:
    """``value`` as the mirror spells a Greenhouse permission level, or one usage error (exit 2)
    listing the values a Greenhouse connection accepts."""
    role = value.strip().lower().replace("-", "_").replace(" ", "_")
    if role in GREENHOUSE_ACCESS_ROLES:
        return role
    valid = ", ".join(GREENHOUSE_ACCESS_ROLES)
    if role in _UNMIRRORED_LEVELS:
        raise typer.BadParameter(
            f"{value!r} cannot be filtered on a Greenhouse connection: Job Admin and Basic users "
            "differ only by their job permissions, which the mirror does not hold (it records "
            f"Site Admin). Use {valid}, or list everyone without --access-role",
            param_hint="'--access-role'",
        )
    raise typer.BadParameter(
        f"{value!r} is not a Greenhouse permission level; on a Greenhouse connection use {valid} "
        "(Job Admin and Basic are not in the mirror)",
        param_hint="'--access-role'",
    )


def _secret(source: str | None, stdin: bool) -> str:
    """The client secret: stdin, else GREENHOUSE_CLIENT_SECRET, else a hidden prompt. A value of
    ``--client-secret`` from the environment is HARVEST_CLIENT_SECRET's, the other product's."""
    if source == "COMMANDLINE":
        raise _usage(
            "--client-secret does not take a value on the command line for Greenhouse",
            "Use the hidden prompt, --client-secret-stdin or GREENHOUSE_CLIENT_SECRET.",
        )
    if stdin:
        secret = sys.stdin.readline().strip()
    else:
        secret = os.environ.get("GREENHOUSE_CLIENT_SECRET", "").strip()
        if not secret and sys.stdin.isatty():
            secret = typer.prompt("Greenhouse client secret", hide_input=True).strip()
    if not secret:
        raise ThresherError(
            "no Greenhouse client secret was given",
            hint="Pipe it to --client-secret-stdin, set GREENHOUSE_CLIENT_SECRET, or run the "
            "command in a terminal to be asked (Configure > Dev Center > API Credentials).",
        )
    return secret


def greenhouse_login(
    *,
    name: str | None,
    client_id: str | None,
    client_id_source: str | None,
    client_secret_source: str | None,
    client_secret_stdin: bool,
    sub: str | None,
    base_url: str | None,
    token_url: str | None,
    make_default: bool,
    json_out: bool,
    database_url: str | None,
) -> None:
    """``thresher login --provider greenhouse``: mint a token as ``sub`` and list one user (the
    credential, its list scope and the Site Admin rule: docs/greenhouse.md §6), then save."""
    from thresher.connections import check_greenhouse, save_greenhouse_connection
    from thresher.greenhouse import GreenhouseSettings

    # --client-id and --base-url read HARVEST_* from the environment: those belong to the other
    # product, so only values typed on the command line count here; GREENHOUSE_* fill the rest.
    given_id = client_id if client_id_source == "COMMANDLINE" else None
    given_id = given_id or os.environ.get("GREENHOUSE_CLIENT_ID", "").strip() or None
    if not given_id:
        raise _usage(
            "a Greenhouse login needs --client-id",
            "Copy it from Configure > Dev Center > API Credentials (a Harvest V3 (OAuth) credential).",
        )
    secret = _secret(client_secret_source, client_secret_stdin)
    settings = GreenhouseSettings.from_env(
        client_id=given_id, client_secret=secret, sub=sub, base_url=base_url, token_url=token_url
    )
    token, users = asyncio.run(check_greenhouse(settings))
    store = open_store(database_url)
    conn_name = name or "greenhouse"
    label = f"Greenhouse, acting as user {settings.sub}" if settings.sub else "Greenhouse"
    save_greenhouse_connection(
        store, conn_name, settings, token=token, label=label, make_default=make_default
    )
    if json_out:
        print_json(
            {
                "connection": conn_name,
                "provider": "greenhouse",
                "client_id": given_id,
                "sub": settings.sub,
                "base_url": settings.base_url,
                "users_visible": bool(users),
            }
        )
        return
    who = f"user {settings.sub}" if settings.sub else "the Integration Service User"
    out.print(
        f"Logged in to Greenhouse as {who} (Site Admin access to users confirmed); saved as "
        f"connection [bold]{conn_name}[/]" + (" (default)." if make_default else ".")
    )


async def _first(items: AsyncIterator[Any]) -> None:
    try:
        await anext(items)
    except StopAsyncIteration:
        pass
    finally:
        closer = getattr(items, "aclose", None)
        if closer is not None:
            await closer()


async def _probe_greenhouse(client: AsyncGreenhouse) -> list[dict[str, Any]]:
    from thresher.greenhouse import GreenhouseError, MissingScopeError, NotSiteAdminError

    calls = {
        "harvest:users:list": lambda: _first(client.list_users(per_page=1)),
        "harvest:user_roles:list": lambda: _first(client.list_user_roles()),
        "harvest:user_job_permissions:list": lambda: _first(client.list_job_permissions()),
        "harvest:future_job_permissions:list": lambda: _first(client.list_future_job_permissions()),
    }
    results: list[dict[str, Any]] = []
    for scope, what in _PROBES:
        try:
            await calls[scope]()
        except (MissingScopeError, NotSiteAdminError) as exc:
            results.append({"scope": scope, "what": what, "ok": False, "error": str(exc), "hint": exc.hint})
            if scope == "harvest:users:list" and isinstance(exc, NotSiteAdminError):
                raise
            continue
        except GreenhouseError:
            raise
        results.append({"scope": scope, "what": what, "ok": True, "error": None, "hint": None})
    return results


def _test_greenhouse(store: Store, connection: StoredConnection) -> dict[str, Any]:
    from thresher.connections import open_greenhouse

    async def go() -> list[dict[str, Any]]:
        async with open_greenhouse(store, connection) as client:
            return await _probe_greenhouse(client)

    checks = asyncio.run(go())
    return {"connection": connection.name, "provider": "greenhouse", "sub": connection.sub, "checks": checks}


def greenhouse_connection(store: Store, name: str | None) -> StoredConnection | None:
    """The saved connection ``name`` (or the default one) when it is a Greenhouse account; None
    for a Harvest one or when there is none (the Harvest check then reports it)."""
    from thresher.connections import GREENHOUSE, resolve

    try:
        found = resolve(store, name, any_provider=True).connection
    except ThresherError:
        return None
    return found if found.provider == GREENHOUSE else None


def report_greenhouse_connection(store: Store, found: StoredConnection, *, json_out: bool) -> None:
    """``thresher connections test`` for a Greenhouse connection: mints a token and tries one
    cheap read per endpoint family; a missing scope is named with where to add it. Exit 77 when
    the credential cannot list users (nothing would work); write scopes cannot be checked without
    writing."""
    result = _test_greenhouse(store, found)
    missing = [c for c in result["checks"] if not c["ok"]]
    if json_out:
        print_json(result)
    else:
        for check in result["checks"]:
            mark = "[green]ok[/]" if check["ok"] else "[red]missing[/]"
            out.print(f"{mark}  {check['scope']}  ({check['what']})")
        if missing:
            err_console.print(
                "Add the missing scopes under Configure > Dev Center > API Credentials > Manage Scopes."
            )
    if any(c["scope"] == "harvest:users:list" for c in missing):
        raise typer.Exit(77)
