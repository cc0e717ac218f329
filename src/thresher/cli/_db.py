"""``thresher db ...``: the roster store's schema (migrations).

Every command that opens the store applies pending migrations itself; these commands are for
operators who want to migrate explicitly (say, before rolling out a new thresher) or to check.
"""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import typer

from ._console import out, print_json
from ._options import DATABASE_URL, JSON

__all__ = ["db_app"]

db_app = typer.Typer(
    help="The roster store's database: apply and inspect schema migrations.",
    no_args_is_help=True,
)


@db_app.command("upgrade")
def upgrade(database_url: str | None = DATABASE_URL, json_out: bool = JSON) -> None:
    """Apply pending schema migrations (a new database gets the whole schema).

    Example: thresher db upgrade --database-url postgresql+psycopg://thresher@db/thresher
    """
    from thresher.store import Store

    with Store.open(database_url, migrate=False) as store:
        before, after = store.upgrade()
        url = store.url
    if json_out:
        print_json({"database": url, "before": before, "after": after, "changed": before != after})
    elif before == after:
        out.print(f"{url}: already at revision {after} (the newest).")
    else:
        out.print(f"{url}: upgraded from revision {before or '(empty)'} to {after}.")


@db_app.command("current")
def current(database_url: str | None = DATABASE_URL, json_out: bool = JSON) -> None:
    """Show the database's schema revision and any pending migrations (changes nothing).

    Example: thresher db current
    """
    from thresher.store import Store

    with Store.open(database_url, migrate=False) as store:
        revision = store.current_revision()
        pending = store.pending_migrations()
        url = store.url
    head = Store.head_revision()
    if json_out:
        print_json({"database": url, "current": revision, "head": head, "pending": pending})
        return
    out.print(f"{url}: revision {revision or '(empty: no thresher schema yet)'}")
    if pending:
        out.print(f"{len(pending)} pending migration(s): {', '.join(pending)}; run 'thresher db upgrade'.")
    else:
        out.print(f"Up to date (newest revision: {head}).")
