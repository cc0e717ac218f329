"""``thresher api METHOD PATH``: any Harvest request through a connection, like ``gh api``.

The request goes through the connection's client (``AsyncHarvest.request``): its rate budget
shared with every process on the store, its retries, its OAuth refresh and its errors. Only the
API's and the identity service's origins are reachable (the client refuses any other host, so
the token never leaves them). The JSON answer goes to stdout as Harvest sent it; a refusal puts
Harvest's error body on stderr and exits with the code of the README's table (65 for a 404 or
422, 77 for a refused token, 75 for rate limits and outages). ``--paginate`` follows
``links.next`` (docs/harvest-api.md §3) and prints the records of every page, as one array or,
with ``--jsonl``, one per line as they arrive.
"""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from thresher._errors import ThresherError

from ._console import print_json
from ._options import CONNECTION, DATABASE_URL

if TYPE_CHECKING:
    from thresher.harvest import AsyncHarvest

__all__ = ["api"]

METHODS = ("GET", "POST", "PATCH", "DELETE")
FIELDS = typer.Option(
    [], "--field", "-f",
    help="key=value, a string: a query parameter of a GET or DELETE, else a JSON body field "
    "(key[]=value adds to an array) (repeatable).",
)
TYPED_FIELDS = typer.Option(
    [], "--typed-field", "-F",
    help="key=value, where true, false, null and numbers are JSON values (repeatable).",
)


def _typed(value: str) -> Any:
    if value in ("true", "false", "null"):
        return json.loads(value)
    try:
        number = json.loads(value)
    except ValueError:
        return value
    return number if isinstance(number, int | float) else value


def _fields(raw: list[str], typed: list[str]) -> dict[str, Any]:
    """``-f``/``-F`` pairs in the order given; ``key[]`` collects an array."""
    fields: dict[str, Any] = {}
    for items, convert, flag in ((raw, str, "--field"), (typed, _typed, "--typed-field")):
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise typer.BadParameter(f"{item!r} is not key=value", param_hint=f"'{flag}'")
            if key.endswith("[]"):
                fields.setdefault(key[:-2], []).append(convert(value))
            else:
                fields[key] = convert(value)
    return fields


def _query(fields: dict[str, Any]) -> dict[str, str]:
    """Fields as query parameters: ``true``, ``false`` and numbers as Harvest reads them."""
    arrays = [key for key, value in fields.items() if isinstance(value, list)]
    if arrays:
        raise typer.BadParameter(
            f"{arrays[0]}[] builds a JSON array, and this request's fields go to the query string",
            param_hint="'--field'",
        )
    return {
        key: json.dumps(value) if isinstance(value, bool) or value is None else str(value)
        for key, value in fields.items()
    }


def _read_input(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {source}: {exc.strerror}", param_hint="'--input'") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{'stdin' if source == '-' else source} is not JSON: {exc}", param_hint="'--input'"
        ) from None


def _records(page: dict[str, Any]) -> list[Any]:
    """The list a page of a list endpoint holds (``users``, ``roles``, ``time_entries``...)."""
    lists = [value for key, value in page.items() if key != "links" and isinstance(value, list)]
    if len(lists) != 1:
        raise ThresherError(
            "the answer is not a page of a list endpoint (no single list of records in it)",
            hint="Drop --paginate for endpoints that answer with one object.",
        )
    return lists[0]


async def _print_pages(pages: AsyncIterator[dict[str, Any]], jsonl: bool) -> None:
    """Records as they arrive: JSON Lines, or one array written as ``json.dumps(indent=2)``
    would write it, without holding every page."""
    write = sys.stdout.write
    first = True
    if not jsonl:
        write("[")
    async for page in pages:
        for record in _records(page):
            if jsonl:
                write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                text = json.dumps(record, indent=2, ensure_ascii=False)
                write(("\n" if first else ",\n") + textwrap.indent(text, "  "))
            first = False
        sys.stdout.flush()
    if not jsonl:
        write("]\n" if first else "\n]\n")
    sys.stdout.flush()


def api(
    method: str = typer.Argument(..., metavar="METHOD", help="GET, POST, PATCH or DELETE."),
    path: str = typer.Argument(
        ..., metavar="PATH",
        help="/v2/users/me, users/me, or a URL on the connection's API or identity service.",
    ),
    fields: list[str] = FIELDS,
    typed_fields: list[str] = TYPED_FIELDS,
    input_file: str | None = typer.Option(
        None, "--input", help="The JSON body from a file, or - for stdin (fields then go to the query)."
    ),
    paginate: bool = typer.Option(
        False, "--paginate", help="Follow links.next and print the records of every page (GET)."
    ),
    jsonl: bool = typer.Option(
        False, "--jsonl", help="With --paginate: one record per line instead of one array."
    ),
    connection: str | None = CONNECTION,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Send any Harvest request through a connection and print the JSON answer.

    The connection's rate budget, retries and token refresh apply. Writes made this way skip the
    roster mirror: run 'thresher sync' after them.

    Example: thresher api GET /v2/users --paginate --jsonl -f is_active=true | jq -r .email
    """
    import asyncio

    from thresher.connections import open_client

    from ._connections import store_for_harvest

    verb = method.upper()
    if verb not in METHODS:
        raise typer.BadParameter(
            f"{method!r} is not one of {', '.join(METHODS)} (Harvest has no PUT)", param_hint="'METHOD'"
        )
    if paginate and verb != "GET":
        raise typer.BadParameter("--paginate reads lists: use it with GET", param_hint="'--paginate'")
    if jsonl and not paginate:
        raise typer.BadParameter("--jsonl goes with --paginate", param_hint="'--jsonl'")
    given = _fields(fields, typed_fields)
    body: Any = None
    query: dict[str, str] | None = None
    if input_file is not None:
        body, query = _read_input(input_file), _query(given) or None
    elif verb in ("GET", "DELETE"):
        query = _query(given) or None
    elif given:
        body = given

    store = store_for_harvest(database_url)

    async def go(client: AsyncHarvest) -> Any:
        if paginate:
            await _print_pages(client.request_paginated(path, params=query), jsonl)
            return None
        return await client.request(verb, path, params=query, json=body)

    async def run() -> Any:
        from thresher.harvest import HarvestError, InvalidRequestError

        async with open_client(store, connection) as client:
            try:
                return await go(client)
            except InvalidRequestError as exc:
                # Refused before sending: the command line named another host (or the like).
                raise typer.BadParameter(str(exc), param_hint="'PATH'") from None
            except HarvestError as exc:
                if exc.body:
                    sys.stderr.write(exc.body.rstrip("\n") + "\n")
                    sys.stderr.flush()
                raise

    answer = asyncio.run(run())
    if answer is not None:
        print_json(answer)
