"""Every command closes the store it opened: no PostgreSQL connection outlives the command.

A long-lived process that runs commands in-process (a test suite, a notebook, an embedding app)
would otherwise keep one pooled connection per command until the server's limit. The store's
sessions are told apart from everyone else's on the shared test server by their
``application_name``.
"""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from provision.conftest import Cli

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres_url: str) -> tuple[str, str]:
    """The test schema's URL, with an application name only this test's store uses."""
    name = f"thresher-cli-{uuid.uuid4().hex[:12]}"
    return make_url(postgres_url).update_query_dict({"application_name": name}).render_as_string(
        hide_password=False
    ), name


def _sessions(postgres_url: str, name: str) -> int:
    """The server's sessions of ``name``, waiting up to 10 s for closed ones to go away (a
    backend leaves pg_stat_activity shortly after its client hangs up)."""
    engine = create_engine(make_url(postgres_url).update_query_dict({"application_name": "counter"}))
    try:
        deadline = time.monotonic() + 10
        while True:
            with engine.connect() as conn:
                count = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": name},
                ).scalar_one()
            if count == 0 or time.monotonic() > deadline:
                return int(count)
            time.sleep(0.1)
    finally:
        engine.dispose()


def test_commands_leave_no_database_connection_open(cli: Cli, pg_url: tuple[str, str]) -> None:
    url, name = pg_url
    env: dict[str, str | None] = {"THRESHER_DATABASE_URL": url}
    email = next(u.email for u in cli.sandbox.state.users.values() if u.is_active)
    roster = cli.tmp / "roster.csv"
    roster.write_text(f"email,first_name,last_name\n{email},Ada,Lovelace\n", encoding="utf-8")
    for argv in (
        ["sync"],
        ["users", "list"],
        ["users", "show", email],
        ["users", "update", email, "--first-name", "Ada"],
        ["changes"],
        ["plan", str(roster)],
        ["apply", str(roster), "--yes"],
        ["roles", "list"],
        ["connections", "list"],
        ["admin", "token", "create", "--name", "monitoring"],
    ):
        cli(*argv, env=env)
        assert _sessions(url, name) == 0, f"thresher {' '.join(argv)} left a connection open"
    # A failing command closes it too.
    failed = cli("users", "show", "nobody@example.com", env=env, ok=False)
    assert failed.exit_code != 0
    assert _sessions(url, name) == 0
