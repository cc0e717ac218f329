"""Fixtures of the store's suite: every store test runs on SQLite and on PostgreSQL.

PostgreSQL runs when ``THRESHER_TEST_DATABASE_URL`` is set (``.ci/run`` sets it when a local server
answers) and is skipped with a visible reason otherwise. Each PostgreSQL test gets a schema of its
own (through ``search_path`` in the URL), dropped afterwards, so runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from thresher.store import Connection, Store

PG_ENV = "THRESHER_TEST_DATABASE_URL"
PG_SKIP = "THRESHER_TEST_DATABASE_URL not set: PostgreSQL tests skipped"


def postgres_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh, empty schema (dropped after the test)."""
    base = postgres_base_url()
    if base is None:
        pytest.skip(PG_SKIP)
    parsed = make_url(base)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    schema = f"thresher_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(parsed)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database, SQLite or PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url = request.getfixturevalue(name)
    assert isinstance(url, str)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated, empty store."""
    with Store.open(database_url) as opened:
        yield opened


@pytest.fixture
def conn(store: Store) -> Connection:
    """One connection in ``store``."""
    return store.add_connection("acme", 1001, label="Acme Inc.")
