"""Finding and opening the database: URL resolution, engine setup, and error translation."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import platformdirs
from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url

from ._errors import (
    DatabaseBusyError,
    DatabaseError,
    DatabaseUnavailableError,
    MigrationError,
    StoreError,
)

__all__ = [
    "ENV_VAR",
    "WRITE",
    "create_store_engine",
    "db_errors",
    "default_database_url",
    "json_dumps",
    "json_loads",
    "read_connection",
    "redact",
    "sqlite_file",
    "violates_constraint",
    "write_transaction",
]

ENV_VAR = "THRESHER_DATABASE_URL"
DEFAULT_FILENAME = "thresher.db"
#: Execution option asking for a write transaction: ``BEGIN IMMEDIATE`` on SQLite.
WRITE = "thresher_write"

# SQLSTATEs a retry can fix: serialization failure, deadlock, lock not available.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}
_UNDEFINED_TABLE = "42P01"


def json_dumps(value: Any) -> str:
    """The one JSON encoding of the store (compact, via orjson): SQLite compares stored JSON as
    text to detect unchanged rows, so every path must write the same bytes for the same value."""
    return orjson.dumps(value).decode()


def json_loads(value: str | bytes) -> Any:
    return orjson.loads(value)


def default_database_url(environ: Mapping[str, str] | None = None) -> str:
    """``THRESHER_DATABASE_URL``, else a SQLite file ``thresher.db`` in the user's data directory."""
    env = os.environ if environ is None else environ
    url = env.get(ENV_VAR, "").strip()
    if url:
        return url
    return f"sqlite:///{_default_path()}"


def _default_path() -> Path:
    return platformdirs.user_data_path("thresher", appauthor=False) / DEFAULT_FILENAME


def redact(url: str | URL) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable URL>"


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise DatabaseUnavailableError(f"{url!r} is not a database URL") from None
    if parsed.drivername in ("postgresql", "postgres"):
        # Only psycopg 3 is installed; SQLAlchemy's default PostgreSQL driver is psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUnavailableError(
            f"unsupported database {parsed.get_backend_name()!r} in {redact(parsed)}; "
            "thresher supports SQLite and PostgreSQL"
        )
    return parsed


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None: another database, in memory, or a ``file:`` URI)."""
    parsed = _parse(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database).expanduser().absolute()


def create_store_engine(url: str) -> Engine:
    """An engine set up for the store: SQLite in WAL mode with foreign keys and real transactions."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed, pool_pre_ping=True, json_serializer=json_dumps, json_deserializer=json_loads
        )
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser().absolute()
        if path == _default_path():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        elif not path.parent.is_dir():
            raise DatabaseUnavailableError(f"the folder of the SQLite database {database} does not exist")
        _create_private(path)
    engine = create_engine(
        parsed,
        connect_args={"timeout": 30.0},
        json_serializer=json_dumps,
        json_deserializer=json_loads,
    )
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _create_private(path: Path) -> None:
    """Create the SQLite file empty with mode 0600 before SQLite first opens it.

    The store holds personal data, token digests and encrypted credentials. SQLite gives the
    ``-wal``, ``-shm`` and ``-journal`` files it creates beside a database the database file's own
    permissions, so a file that is private from its first byte keeps them private too. An empty
    file is a valid empty database. An existing file is left as it is.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise DatabaseUnavailableError(f"cannot create the SQLite database {path}: {exc.strerror}") from exc
    os.close(fd)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module's own transaction handling skips BEGIN before SELECT and DDL; turn it off
    # and emit BEGIN ourselves (_sqlite_begin), so reads are repeatable and migrations atomic.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL: readers never block the writer (the CLI reads while `sync --watch` writes).
        cursor.execute("PRAGMA journal_mode=WAL")
        # Safe with WAL: a killed process loses nothing committed; only power loss could lose
        # the last transactions. Each page commit then costs no fsync.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A 10,000-user page (rows, events, indexes) fits in memory until it commits.
        cursor.execute("PRAGMA cache_size=-65536")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A write transaction takes the write lock up front: a deferred one that reads and then
    # writes fails at once with SQLITE_BUSY if another writer committed meanwhile, while
    # BEGIN IMMEDIATE waits for the lock (up to the connect timeout).
    write = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def violates_constraint(exc: StoreError) -> bool:
    """Whether ``db_errors`` made ``exc`` of a unique, foreign-key or check constraint violation."""
    return isinstance(exc.__cause__, sa_exc.IntegrityError)


@contextmanager
def db_errors(url: str) -> Iterator[None]:
    """Turn driver errors into store errors that say what to do."""
    try:
        yield
    except StoreError:
        raise
    except sa_exc.DBAPIError as exc:
        orig = exc.orig if exc.orig is not None else exc
        message = _first_line(orig)
        sqlstate = getattr(orig, "sqlstate", None)
        if sqlstate in _RETRYABLE_SQLSTATES or "database is locked" in message:
            raise DatabaseBusyError(f"the database at {redact(url)} is busy: {message}") from exc
        if sqlstate == _UNDEFINED_TABLE or message.startswith("no such table"):
            raise MigrationError(
                f"the database at {redact(url)} has no thresher schema ({message})",
                hint="Create it with 'thresher db upgrade'.",
            ) from exc
        if isinstance(exc, sa_exc.OperationalError) and (sqlstate is None or sqlstate.startswith("08")):
            raise DatabaseUnavailableError(f"cannot use the database at {redact(url)}: {message}") from exc
        raise DatabaseError(f"the database at {redact(url)} refused a statement: {message}") from exc


@contextmanager
def read_connection(engine: Engine, url: str) -> Iterator[Connection]:
    """A connection for reads (each statement in the one short transaction it opens), errors translated."""
    with db_errors(url), engine.connect() as conn:
        yield conn


@contextmanager
def write_transaction(engine: Engine, url: str) -> Iterator[Connection]:
    """One write transaction (SQLite: ``BEGIN IMMEDIATE``), committed when the block ends and
    rolled back if it raises; errors translated."""
    with db_errors(url), engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            yield conn
