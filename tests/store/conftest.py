"""Fixtures of the store's suite: every store test runs on SQLite and on PostgreSQL.

PostgreSQL runs when ``THRESHER_TEST_DATABASE_URL`` is set (``.ci/run`` sets it when a local server
answers) and is skipped with a visible reason otherwise. Each PostgreSQL test gets a schema of its
own (through ``search_path`` in the URL), dropped afterwards, so runs never collide.
"""

from __future__ import annotations

import pytest

from thresher.store import Store, StoredConnection


@pytest.fixture
def conn(store: Store) -> StoredConnection:
    """One connection in ``store``."""
    return store.add_connection("acme", 1001, label="Acme Inc.")
