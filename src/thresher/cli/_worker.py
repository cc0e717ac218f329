"""``thresher worker``: run background jobs (syncs, token refreshes, roster applies, webhook
deliveries) from the PostgreSQL job queue; start as many as the load needs, on as many machines
(docs/scale-out.md).

Heavy stacks (procrastinate, SQLAlchemy, httpx) are imported inside the command.
"""

# ruff: noqa: PLC0415 - heavy stacks are imported inside the command (tests/cli/test_startup.py)

from __future__ import annotations

import typer

from ._console import err_console
from ._options import DATABASE_URL

__all__ = ["worker"]


def worker(
    concurrency: int = typer.Option(
        4, "--concurrency", "-c", min=1, max=256, help="Jobs run at once."
    ),
    queues: list[str] = typer.Option(  # noqa: B008 - Typer reads defaults at import
        [], "--queues", "-q",
        help="Queues to take jobs from (repeat; default all): schedule, sync, tokens, applies, "
        "webhooks.",
    ),
    name: str | None = typer.Option(
        None, "--name", help="Worker name in 'thresher jobs' (default host:pid)."
    ),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Run jobs from the queue until SIGTERM or Ctrl-C (jobs in flight finish first).

    Every worker on one PostgreSQL store shares the work: each connection is synced on its own
    interval (see 'thresher connections config'), never by two workers at once; each webhook
    subscription's deliveries are sent by one worker at a time; the jobs of a worker that dies
    are taken over. Knobs: THRESHER_JOBS_TICK, THRESHER_JOBS_LEASE_TTL,
    THRESHER_JOBS_MAX_RUN_S ... (docs/scale-out.md).

    Example: thresher worker --concurrency 8 --queues sync --queues schedule
    """
    import asyncio

    from thresher.jobs import QUEUES, Jobs, JobsSettings

    from ._plumbing import open_store

    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise typer.BadParameter(
            f"no queue named {', '.join(unknown)}; the queues are {', '.join(QUEUES)}",
            param_hint="'--queues'",
        )
    settings = JobsSettings.from_env()
    store = open_store(database_url)

    async def run() -> None:
        async with Jobs(store, settings, concurrency=concurrency) as jobs:
            err_console.print(
                f"thresher worker: {concurrency} at once on {', '.join(queues or QUEUES)}; "
                "SIGTERM or Ctrl-C stops it.", markup=False,
            )
            await jobs.run_worker(queues=queues or None, name=name)

    try:
        asyncio.run(run())
    finally:
        store.close()
    err_console.print("Worker stopped.")
