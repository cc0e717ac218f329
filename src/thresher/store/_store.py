"""Opening the store, its migrations, and the connections it mirrors."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.engine import Engine

from . import _leases, _migrate
from ._arguments import now
from ._budget import RateBudget
from ._database import (
    create_store_engine,
    db_errors,
    default_database_url,
    read_connection,
    redact,
    sqlite_file,
    violates_constraint,
    write_transaction,
)
from ._errors import (
    DatabaseError,
    DuplicateConnectionError,
    InvalidArgumentError,
    StoreNotFoundError,
    UnknownConnectionError,
)
from ._queries import Queries
from ._records import Lease, LeaseHolder, StoredConnection
from ._schema import PROVIDERS
from ._tables import CONNECTIONS
from ._transaction import StoreTransaction

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_ID_URL", "Store"]

#: Harvest's public endpoints (docs/architecture.md contracts), the defaults of a new connection.
DEFAULT_BASE_URL = "https://api.harvestapp.com/v2"
DEFAULT_ID_URL = "https://id.getharvest.com"

T = TypeVar("T")


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET


class Store(Queries):
    """The roster mirror of every connected Harvest account, with its change log.

    Open with :meth:`Store.open`; close with :meth:`close` (or use it as a context manager).
    Reads run in short transactions of their own; writes go through :meth:`transaction`.
    """

    def __init__(self, engine: Engine, *, url: str) -> None:
        self._engine = engine
        self._url = url

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        migrate: bool = True,
        environ: Mapping[str, str] | None = None,
        create: bool = True,
    ) -> Store:
        """Open the store at ``url``, else ``THRESHER_DATABASE_URL``, else the default SQLite file.

        With ``migrate`` (the default) pending migrations are applied, so a fresh database just
        works; ``migrate=False`` opens as-is (``thresher db current``). ``create=False`` raises
        :class:`StoreNotFoundError` instead of creating a SQLite file or a schema that is not there.
        """
        resolved = url or default_database_url(environ)
        path = None if create else sqlite_file(resolved)
        if path is not None and not path.exists():
            raise StoreNotFoundError(f"there is no store at {path}")
        with db_errors(resolved):
            engine = create_store_engine(resolved)
            store = cls(engine, url=resolved)
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                if not create and store.current_revision() is None:
                    raise StoreNotFoundError(f"there is no thresher store in {redact(resolved)}")
                if migrate:
                    store.upgrade()
            except BaseException:
                engine.dispose()
                raise
        return store

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return redact(self._url)

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        return cast(Literal["sqlite", "postgresql"], self._engine.dialect.name)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools; the store's API is the supported surface)."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def _dialect_name(self) -> str:
        return self._engine.dialect.name

    def _read(self, fn: Callable[[SAConnection], T]) -> T:
        with read_connection(self._engine, self._url) as conn:
            return fn(conn)

    def _write(self) -> AbstractContextManager[SAConnection]:
        return write_transaction(self._engine, self._url)

    # -- migrations -------------------------------------------------------------------------

    def upgrade(self) -> _migrate.Revisions:
        """Apply pending migrations; returns the revision before and after."""
        with db_errors(self._url):
            return _migrate.upgrade(self._engine)

    def current_revision(self) -> str | None:
        """The database's schema revision (None: no thresher schema yet)."""
        return self._read(_migrate.current_revision)

    @staticmethod
    def head_revision() -> str:
        """The newest revision this thresher knows."""
        return _migrate.head_revision()

    def pending_migrations(self) -> list[str]:
        """Revisions ``upgrade`` would apply, oldest first."""
        return _migrate.pending(self.current_revision())

    # -- connections ------------------------------------------------------------------------

    def add_connection(
        self,
        name: str,
        account_id: int,
        *,
        label: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        id_url: str = DEFAULT_ID_URL,
        credentials_ref: str | None = None,
        is_default: bool = False,
        provider: str = "harvest",
        client_id: str | None = None,
        sub: str | None = None,
    ) -> StoredConnection:
        """Record a connection; ``is_default`` takes the default from any other. ``provider``
        ``greenhouse`` records a Greenhouse Recruiting account (``client_id``, ``sub``)."""
        name = name.strip()
        if not name:
            raise InvalidArgumentError("a connection needs a name")
        try:
            with self._write() as conn:
                taken = conn.execute(select(CONNECTIONS.c.id).where(CONNECTIONS.c.name == name))
                if taken.first() is not None:
                    raise DuplicateConnectionError(f"a connection named {name!r} already exists")
                if is_default:
                    conn.execute(update(CONNECTIONS).values(is_default=False))
                conn.execute(
                    insert(CONNECTIONS).values(
                        name=name,
                        account_id=account_id,
                        label=label,
                        base_url=base_url,
                        id_url=id_url,
                        credentials_ref=credentials_ref,
                        is_default=is_default,
                        created_at=now(),
                        provider=_provider(provider),
                        client_id=client_id,
                        sub=sub,
                    )
                )
        except DatabaseError as exc:  # pragma: no cover - a concurrent add of the same name
            if not violates_constraint(exc):
                raise
            raise DuplicateConnectionError(f"a connection named {name!r} already exists") from exc
        return self.get_connection(name)

    def update_connection(
        self,
        name: str,
        *,
        account_id: int | _Unset = UNSET,
        label: str | _Unset | None = UNSET,
        base_url: str | _Unset = UNSET,
        id_url: str | _Unset = UNSET,
        credentials_ref: str | _Unset | None = UNSET,
        client_id: str | _Unset | None = UNSET,
        sub: str | _Unset | None = UNSET,
    ) -> StoredConnection:
        """Change the given fields of a connection (the others stay; the provider never does)."""
        given = {
            "account_id": account_id,
            "label": label,
            "base_url": base_url,
            "id_url": id_url,
            "credentials_ref": credentials_ref,
            "client_id": client_id,
            "sub": sub,
        }
        values: dict[str, Any] = {k: v for k, v in given.items() if v is not UNSET}
        with self._write() as conn:
            found = conn.execute(select(CONNECTIONS.c.id).where(CONNECTIONS.c.name == name)).first()
            if found is None:
                raise UnknownConnectionError(f"no connection named {name!r}")
            if "credentials_ref" in values:
                # Processes holding an older copy see the version move and re-read it.
                values["credentials_version"] = CONNECTIONS.c.credentials_version + 1
            if values:
                conn.execute(update(CONNECTIONS).where(CONNECTIONS.c.id == found.id).values(**values))
        return self.get_connection(name)

    def set_default_connection(self, name: str) -> StoredConnection:
        with self._write() as conn:
            found = conn.execute(select(CONNECTIONS.c.id).where(CONNECTIONS.c.name == name)).first()
            if found is None:
                raise UnknownConnectionError(f"no connection named {name!r}")
            conn.execute(update(CONNECTIONS).values(is_default=False))
            conn.execute(
                update(CONNECTIONS).where(CONNECTIONS.c.name == name).values(is_default=True)
            )
        return self.get_connection(name)

    def remove_connection(self, name: str) -> None:
        """Remove a connection with its mirror, sync state and change log."""
        with self._write() as conn:
            result = conn.execute(delete(CONNECTIONS).where(CONNECTIONS.c.name == name))
            if result.rowcount == 0:
                raise UnknownConnectionError(f"no connection named {name!r}")

    # -- leases -----------------------------------------------------------------------------

    def acquire_lease(
        self, connection_id: int, purpose: str, holder: LeaseHolder, *, ttl: float
    ) -> Lease:
        """Take the ``purpose`` lease of a connection for ``ttl`` seconds, or raise
        ``LeaseHeldError`` (its ``lease`` says who holds it, where and since when)."""
        with self._write() as conn:
            return _leases.acquire(conn, connection_id, purpose, holder, ttl)

    def renew_lease(self, lease: Lease, *, ttl: float) -> Lease:
        """Extend a held lease (a heartbeat); ``LeaseLostError`` if another holder took it."""
        with self._write() as conn:
            return _leases.renew(conn, lease, ttl)

    def release_lease(self, lease: Lease) -> None:
        """Give a lease up, so the next holder need not wait for it to expire."""
        with self._write() as conn:
            _leases.release(conn, lease)

    def get_lease(self, connection_id: int, purpose: str) -> Lease | None:
        """The lease as stored (held or expired), or None if it was never taken."""
        return self._read(lambda conn: _leases.current(conn, connection_id, purpose))

    # -- rate budgets -----------------------------------------------------------------------

    def rate_budget(
        self, account_key: str, *, limit: int, window: float, margin: float = 0.005
    ) -> RateBudget:
        """The budget every process on this store shares for one Harvest account (``limit``
        requests per ``window`` seconds): pass it to ``AsyncHarvest(shared_budget=...)``.

        ``account_key`` names the account on one API (base URL and account id), so a sandbox
        and the real Harvest never share a budget. Rows are created on first use."""
        return RateBudget(self._write, account_key, limit=limit, window=window, margin=margin)

    # -- writes -----------------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """One database transaction: everything done through the yielded :class:`StoreTransaction`
        commits when the block ends, or rolls back if it raises."""
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[StoreTransaction]:
        with self._write() as conn:
            tx = StoreTransaction(conn, self._url)
            try:
                yield tx
            finally:
                tx._closed = True



def _provider(value: str) -> str:
    if value not in PROVIDERS:
        raise InvalidArgumentError(
            f"unknown provider {value!r}; a connection is one of: {', '.join(PROVIDERS)}"
        )
    return value
