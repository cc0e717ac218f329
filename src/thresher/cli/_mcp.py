"""``thresher mcp ...``: the MCP server for AI agents, over stdio or streamable HTTP."""
# Heavy stacks (the MCP SDK, SQLAlchemy, pydantic, httpx, starlette, uvicorn) are imported inside
# the functions that use them, so `thresher --help` starts fast (tests/cli/test_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import typer

from ._console import err_console, out, print_json
from ._options import CONNECTION, DATABASE_URL, json_option
from ._plumbing import open_store

if TYPE_CHECKING:
    from thresher.mcp import McpTokens

__all__ = ["mcp_app"]

mcp_app = typer.Typer()  # its help is the callback's docstring, with the example
token_app = typer.Typer(help="Bearer tokens of the MCP server over HTTP.", no_args_is_help=True)
mcp_app.add_typer(token_app, name="token")


@mcp_app.callback(invoke_without_command=True)
def mcp(
    context: typer.Context,
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP at /mcp instead of stdio."),
    host: str = typer.Option("127.0.0.1", "--host", help="With --http: address to listen on (loopback)."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="With --http: port (0 picks one)."),
    read_only: bool = typer.Option(False, "--read-only", help="Expose the read tools only."),
    print_config: bool = typer.Option(
        False,
        "--print-config",
        help="Print the config snippets for Claude Desktop, Claude Code, Cursor "
        "and streamable-HTTP clients, then exit.",
    ),
    max_age: float = typer.Option(
        300.0,
        "--max-age",
        min=0.0,
        help="Sync the mirror before a read when it is older than this (seconds).",
    ),
    connection: str | None = CONNECTION,
    json_out: bool = json_option("the config snippets (with --print-config)"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """The MCP server: let AI agents run the Harvest user lifecycle, safely.

    Serves over stdio (desktop clients start it themselves), or with --http for
    hosted agents (bearer tokens from 'thresher mcp token create'). Reads come from the roster
    mirror; writes are planned first and applied only with the plan's confirmation id.
    Example: thresher mcp --print-config    |    thresher mcp --http --port 8765 --read-only
    """
    import asyncio

    if context.invoked_subcommand is not None:
        return
    if print_config:
        from thresher.mcp import client_configs, render_configs

        where = f"[{host}]" if ":" in host else host
        configs = client_configs(
            connection=connection, read_only=read_only, url=f"http://{where}:{port or 8765}/mcp"
        )
        if json_out:
            print_json({k: v["config"] for k, v in configs.items()})
        else:
            out.print(render_configs(configs), markup=False, highlight=False, soft_wrap=True, end="")
        return
    store = open_store(database_url)
    age = dt.timedelta(seconds=max_age)
    if not http:
        from thresher.mcp import serve_stdio

        # stdout carries the protocol: anything for people goes to stderr.
        asyncio.run(serve_stdio(store, connection, read_only=read_only, max_age=age))
        return
    from thresher._serving import bind_socket
    from thresher.mcp import McpTokens, serve_http

    sock = bind_socket(host, port)
    try:
        if not McpTokens(store).list_tokens():
            err_console.print(
                "No MCP token yet: every request will get 401. Make one with "
                "'thresher mcp token create --name NAME'."
            )
        where = f"[{host}]" if ":" in host else host
        err_console.print(
            f"MCP server{' (read-only)' if read_only else ''} on http://{where}:{sock.getsockname()[1]}/mcp",
            soft_wrap=True,
        )
        asyncio.run(serve_http(store, sock, connection, read_only=read_only, max_age=age, host=host))
    finally:
        sock.close()


def _tokens(database_url: str | None) -> McpTokens:
    from thresher.mcp import McpTokens

    return McpTokens(open_store(database_url))


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., "--name", help="What the token is for, e.g. ops-agent."),
    allow_cidr: list[str] = typer.Option(  # noqa: B008 - Typer reads defaults at import
        [], "--allow-cidr", help="Accept the token only from this network (repeatable)."
    ),
    read_only: bool = typer.Option(False, "--read-only", help="Its sessions see the read tools only."),
    json_out: bool = json_option("the token"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Make a bearer token for an agent. It is shown once: only a digest is kept.
    Example: thresher mcp token create --name ops-agent --read-only --allow-cidr 10.0.0.0/8
    """
    token, secret = _tokens(database_url).create(name, allowed_cidrs=allow_cidr, read_only=read_only)
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
    """List the MCP tokens, where they may be used from, and whether they are read-only."""
    tokens = _tokens(database_url).list_tokens(include_revoked=all_tokens)
    if json_out:
        print_json([t.as_dict() for t in tokens])
        return
    if not tokens:
        out.print("No MCP tokens. Make one with 'thresher mcp token create --name NAME'.")
        return
    for t in tokens:
        access = "revoked" if t.revoked_at else ("read-only" if t.read_only else "read-write")
        out.print(
            f"{t.name}\t{access}\t{', '.join(t.allowed_cidrs) or 'any network'}\t"
            f"{t.created_at:%Y-%m-%d %H:%M}",
            markup=False,
            highlight=False,
        )


@token_app.command("revoke")
def token_revoke(
    name: str = typer.Argument(..., help="The token's name."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Revoke a token: its next request gets 401."""
    _tokens(database_url).revoke(name)
    out.print(f"Token [bold]{name}[/] revoked.")
