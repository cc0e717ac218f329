"""Alembic, driven from code: no alembic.ini at runtime, migrations shipped inside the package."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from ._database import WRITE
from ._errors import MigrationError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported only when a migration has to run or be inspected: importing it costs about
# a third of a second, and every command opens the store (which is usually at head already).

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "Revisions",
    "config",
    "current_revision",
    "head_revision",
    "pending",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: The newest migration's revision; tests check it equals Alembic's head, so it cannot drift.
HEAD_REVISION = "0011"
# Any constant works; it only has to be the same for every thresher process on one database.
_PG_MIGRATION_LOCK = 0x7468726573686572  # "thresher"


class Revisions(NamedTuple):
    """The schema revision before and after an upgrade (None: an empty database)."""

    before: str | None
    after: str | None


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code; ``connection`` is the one ``env.py`` will use."""
    from alembic.config import Config  # noqa: PLC0415 - see the module note

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    # r0001_initial.py: revision ids are short sequence numbers, and module names need a letter.
    cfg.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - see the module note

    return ScriptDirectory.from_config(config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None, "the store ships at least one migration"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in ``alembic_version`` (None for an empty database)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise MigrationError(f"the database has several schema heads ({', '.join(rows)}); expected one")
    return rows[0] if rows else None


def pending(current: str | None) -> list[str]:
    """Revisions an upgrade to head would apply, oldest first."""
    from alembic.util.exc import CommandError  # noqa: PLC0415 - see the module note

    scripts = _scripts()
    try:
        revisions = list(scripts.iterate_revisions("head", current))
    except CommandError as exc:
        raise MigrationError(
            f"the database is at revision {current!r}, unknown to this thresher: {exc}"
        ) from exc
    return [r.revision for r in reversed(revisions)]


def upgrade(engine: Engine, target: str = "head") -> Revisions:
    """Apply pending migrations in one transaction, safe against concurrent upgrades."""
    with engine.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # Two processes opening a fresh database at once must not both create tables.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            before = current_revision(connection)
            if before == HEAD_REVISION and target == "head":
                return Revisions(before, before)
            from alembic import command  # noqa: PLC0415 - see the module note
            from alembic.util.exc import CommandError  # noqa: PLC0415

            try:
                command.upgrade(config(connection), target)
            except CommandError as exc:
                raise MigrationError(f"cannot upgrade the database from revision {before!r}: {exc}") from exc
            return Revisions(before, current_revision(connection))
