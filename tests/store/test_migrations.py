"""Schema changes only through migrations; `thresher db upgrade` and `thresher db current`."""

from __future__ import annotations

import json

import pytest
import typer
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from thresher.cli._db import db_app
from thresher.store import MigrationError, Store
from thresher.store._migrate import MIGRATIONS_DIR, config
from thresher.store._schema import Base

TABLES = {"connections", "users", "roles", "role_members", "teammates", "sync_state", "change_events"}


def test_opening_a_fresh_database_applies_every_migration(store: Store) -> None:
    assert store.current_revision() == Store.head_revision()
    assert store.pending_migrations() == []
    assert set(inspect(store.engine).get_table_names()) >= TABLES
    assert store.upgrade() == (Store.head_revision(), Store.head_revision())


def test_open_without_migrating_then_upgrade(database_url: str) -> None:
    with Store.open(database_url, migrate=False) as store:
        assert store.current_revision() is None
        assert store.pending_migrations()[-1] == Store.head_revision()
        with pytest.raises(MigrationError) as info:
            store.list_connections()
        assert info.value.hint is not None
        assert "thresher db upgrade" in info.value.hint
        assert store.upgrade() == (None, Store.head_revision())
        assert store.list_connections() == []


def test_the_migrations_create_exactly_the_models_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_downgrade_to_empty_and_back(store: Store) -> None:
    with store.engine.begin() as conn:
        command.downgrade(config(conn), "base")
    assert store.current_revision() is None
    assert not TABLES & set(inspect(store.engine).get_table_names())
    store.upgrade()
    assert store.current_revision() == Store.head_revision()


def test_a_database_from_a_newer_thresher_is_refused(database_url: str) -> None:
    with Store.open(database_url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(MigrationError) as info:
        Store.open(database_url)
    assert info.value.hint is not None
    assert "upgrade thresher" in info.value.hint


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("r0001_*.py"))


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(db_app, name="db")
    return app


def test_db_upgrade_and_current_from_the_command_line(database_url: str) -> None:
    runner = CliRunner()
    app = _cli()
    result = runner.invoke(app, ["db", "current", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "no thresher schema yet" in result.output
    assert "pending migration(s)" in result.output

    result = runner.invoke(app, ["db", "upgrade", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert f"upgraded from revision (empty) to {Store.head_revision()}" in result.output

    result = runner.invoke(app, ["db", "upgrade", "--database-url", database_url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["changed"] is False

    result = runner.invoke(app, ["db", "current", "--database-url", database_url, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    head = Store.head_revision()
    assert (data["current"], data["head"], data["pending"]) == (head, head, [])


def test_db_upgrade_uses_thresher_database_url(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHER_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(_cli(), ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with Store.open(sqlite_url, migrate=False) as store:
        assert store.current_revision() == Store.head_revision()


def test_head_revision_constant_matches_alembics_head() -> None:
    # Opening a store at head skips importing Alembic by comparing with this constant.
    from thresher.store._migrate import HEAD_REVISION

    assert Store.head_revision() == HEAD_REVISION
