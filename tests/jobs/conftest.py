"""Workers as operators run them: ``thresher worker`` subprocesses on a PostgreSQL database of
their own (procrastinate's tables and the store's), against a multi-account sandbox over real
HTTP in this process, so its request log can be read directly."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

import thresher_process
from thresher.jobs import create_connection
from thresher.sandbox import MultiSandbox, RunningMultiSandbox, SandboxConfig, run_multi_sandbox
from thresher.store import Store
from thresher_process import ThresherProcess, start_thresher

SECRET_KEY = "tests-jobs-secret-key"
USER_AGENT = "thresher-tests (tests@example.com)"
#: A ``thresher worker`` subprocess (the shared ``thresher_process`` helper).
Worker = ThresherProcess
wait_for = thresher_process.wait_for


@pytest.fixture
def jobs_database_url() -> Iterator[str]:
    """A fresh database (store and queue), dropped afterwards: procrastinate's tables, functions
    and LISTEN channels never meet another test run's."""
    base = os.environ.get("THRESHER_TEST_DATABASE_URL")
    if not base:
        pytest.skip("THRESHER_TEST_DATABASE_URL not set: the workers' PostgreSQL tests skipped")
    url = make_url(base).set(drivername="postgresql+psycopg")
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"thresher_jobs_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_worker(database_url: str, *args: str, env: dict[str, str] | None = None) -> Worker:
    base = {"THRESHER_DATABASE_URL": database_url, "THRESHER_SECRET_KEY": SECRET_KEY}
    return start_thresher("worker", *args, env={**base, **(env or {})}, columns=200)


@dataclasses.dataclass
class Fleet:
    """Accounts on one sandbox, a connection for each in the store."""

    multi: MultiSandbox
    running: RunningMultiSandbox
    database_url: str
    names: dict[int, str]  # account id -> connection name


@contextlib.contextmanager
def make_fleet(
    database_url: str, accounts: int, *, users: int, interval_s: float, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Fleet]:
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET_KEY)
    multi = MultiSandbox(accounts, SandboxConfig(users=users, rate_limit=None))
    with run_multi_sandbox(multi) as running, Store.open(database_url) as store:
        names = {}
        for sandbox in multi.sandboxes:
            creds = sandbox.credentials
            name = f"customer-{creds.account_id}"
            create_connection(
                store, name, account_id=creds.account_id, token=creds.admin_token,
                base_url=running.api_url, id_url=running.id_url, user_agent=USER_AGENT,
                interval_s=interval_s,
            )
            names[creds.account_id] = name
        yield Fleet(multi, running, database_url, names)
