"""``thresher admin ...``: who may sign in to the dashboard and call the status API."""

# Heavy stacks are imported inside the functions (tests/cli/test_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from ._console import UsageError, out, print_json
from ._options import DATABASE_URL, json_option
from ._plumbing import open_store

if TYPE_CHECKING:
    from thresher.serve import AdminAuth

__all__ = ["admin_app"]

admin_app = typer.Typer(help="Dashboard admins and status-API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens of the status API (admin scope).", no_args_is_help=True)
admin_app.add_typer(token_app, name="token")


def _auth(database_url: str | None) -> AdminAuth:
    from thresher.serve import AdminAuth
    from thresher.store import ServeRecords

    return AdminAuth(ServeRecords(open_store(database_url)))


def _password(password_stdin: bool) -> str:
    if password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise UsageError(
                "no terminal to ask for the password",
                hint="Pipe it in with --password-stdin, e.g. printf %s \"$PW\" | thresher admin create ...",
            )
        value = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@admin_app.command("create")
def create(
    username: str = typer.Option(..., "--username", help="The name to sign in with."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    reset: bool = typer.Option(False, "--reset", help="Set a new password for an existing admin."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Make a dashboard admin (the password is asked for without echo, at least 12 characters;
    only an argon2 hash is kept). --reset changes an admin's password and ends their sessions.

    Example: thresher admin create --username ada
    """
    auth = _auth(database_url)
    password = _password(password_stdin)
    if reset:
        auth.set_password(username, password)
        out.print(f"Password of [bold]{username}[/] changed; their sessions were ended.")
        return
    auth.create_admin(username, password)
    out.print(f"Admin [bold]{username}[/] created. Sign in at the dashboard of 'thresher serve'.")


@admin_app.command("list")
def list_admins(json_out: bool = json_option("admins"), database_url: str | None = DATABASE_URL) -> None:
    """List dashboard admins and when they last signed in."""
    admins = _auth(database_url).records.list_admins()
    rows = [
        {
            "username": a.username,
            "created_at": a.created_at.isoformat(),
            "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None,
        }
        for a in admins
    ]
    if json_out:
        print_json(rows)
        return
    if not rows:
        out.print("No admins. Make one with 'thresher admin create --username NAME'.")
    for row in rows:
        last = row["last_login_at"] or "never"
        out.print(f"{row['username']}\tcreated {row['created_at']}\tlast sign-in {last}")


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., "--name", help="What the token is for, e.g. grafana."),
    json_out: bool = json_option("the token"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Make a bearer token for the status API. It is shown once: only a digest is kept.

    Example: thresher admin token create --name monitoring
    """
    token, secret = _auth(database_url).create_token(name)
    if json_out:
        print_json({"name": token.name, "created_at": token.created_at.isoformat(), "token": secret})
        return
    out.print(f"Token [bold]{token.name}[/] created. Copy it now; thresher cannot show it again:")
    out.print(secret, markup=False, highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list(json_out: bool = json_option("tokens"), database_url: str | None = DATABASE_URL) -> None:
    """List live status-API tokens."""
    tokens = _auth(database_url).records.list_tokens()
    rows = [
        {"name": t.name, "created_at": t.created_at.isoformat(),
         "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None}
        for t in tokens
    ]
    if json_out:
        print_json(rows)
        return
    if not rows:
        out.print("No API tokens. Make one with 'thresher admin token create --name NAME'.")
    for row in rows:
        out.print(f"{row['name']}\tcreated {row['created_at']}")


@token_app.command("revoke")
def token_revoke(
    name: str = typer.Argument(..., help="The token's name."), database_url: str | None = DATABASE_URL
) -> None:
    """Revoke a token: its next request gets 401."""
    _auth(database_url).revoke_token(name)
    out.print(f"Token [bold]{name}[/] revoked.")
