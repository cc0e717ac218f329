"""procrastinate's connection and tables on the store's PostgreSQL database.

The queue lives beside the store's tables (one database to run, back up and watch). Its schema
is procrastinate's own SQL, applied once per database under an advisory lock, so several workers
starting together never apply it twice.
"""

from __future__ import annotations

import psycopg
from procrastinate import App, PsycopgConnector
from sqlalchemy.engine import make_url

from ._errors import JobsConfigError, JobsUnavailableError

__all__ = ["conninfo", "ensure_schema", "make_connector"]

# Any constant works; it only has to be the same for every worker on one database.
_SCHEMA_LOCK = 0x74687265736A6F62  # "thresjob"


def conninfo(database_url: str) -> str:
    """The libpq URI of a store URL (``postgresql+psycopg://...``); SQLite is a config error."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise JobsConfigError(
            "workers need a PostgreSQL store (procrastinate keeps its queue there), not "
            f"{url.get_backend_name()}",
            hint="Set THRESHER_DATABASE_URL=postgresql+psycopg://USER@HOST/DB (docs/scale-out.md).",
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_connector(database_url: str, *, max_size: int) -> PsycopgConnector:
    """A pool of at most ``max_size`` connections (the figure docs/scale-out.md budgets)."""
    return PsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=max_size)


def ensure_schema(app: App, database_url: str) -> bool:
    """Create procrastinate's tables unless they exist; True when this call created them."""
    try:
        with psycopg.connect(conninfo(database_url), autocommit=False) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            if row is not None and row[0] is not None:
                return False
            conn.execute(app.schema_manager.get_schema())
            conn.commit()
            return True
    except psycopg.OperationalError as exc:
        raise JobsUnavailableError(
            f"could not reach PostgreSQL for the job queue: {exc}".splitlines()[0],
            hint="Check THRESHER_DATABASE_URL and that the server is up, then retry.",
        ) from None
