"""The SCIM bridge's bearer tokens as stored: salted digests, never secrets, and request counts.

Rows live in ``scim_tokens`` and ``scim_token_counts`` (migration r0002). Every database error is a
:class:`~thresher.store.StoreError`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading
from collections.abc import Mapping

from sqlalchemy import ColumnElement, bindparam, insert, select, update

from ._arguments import aware
from ._database import read_connection, sqlite_file, violates_constraint, write_transaction
from ._errors import DatabaseError, DuplicateScimTokenError
from ._store import Store
from ._tables import SCIM_TOKEN_COUNTS, SCIM_TOKENS

__all__ = ["ScimTokens", "StoredScimToken"]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredScimToken:
    """A token's row: ``key`` finds it, ``digest`` is HMAC-SHA256(``salt``, secret)."""

    id: int
    name: str
    key: str
    salt: str
    digest: str
    allowed_cidrs: list[str]
    read_only: bool
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    #: ``scim`` (the bridge) or ``mcp`` (the MCP server): a token opens only its own service.
    scope: str = "scim"


_COLUMNS = [SCIM_TOKENS.c[f.name] for f in dataclasses.fields(StoredScimToken)]
# The lookup every bridge request makes, built once: building the statement and its cache key
# cost more than running it (as for the bridge's user lookups, ``_scim_records``).
_BY_KEY = select(*_COLUMNS).where(
    SCIM_TOKENS.c.key == bindparam("key"), SCIM_TOKENS.c.scope == bindparam("scope")
)


class ScimTokens:
    """The tokens table and the request counts kept per token and HTTP status.

    ``scope`` picks whose tokens these are (``scim`` or ``mcp``): lookups, lists and revocations
    see only that scope's rows, so a token made for one service never opens the other. Names are
    unique across scopes.
    """

    def __init__(self, store: Store, *, scope: str = "scim") -> None:
        self._engine = store.engine
        self._url = store.url
        self._scope = scope
        self._watch_file = sqlite_file(store.url)
        self._watch: sqlite3.Connection | None = None
        self._watch_lock = threading.Lock()

    def change_marker(self) -> int | None:
        """A number that changes whenever any connection, of any process, commits to the
        database; None when the database cannot tell cheaply (PostgreSQL, SQLite in memory).

        A row read while the number stayed the same is unchanged, so a checked token can be
        trusted until it moves (a revocation from ``thresher scim token revoke`` moves it). SQLite's
        ``PRAGMA data_version`` on a connection of its own, which no other statement uses: a few
        microseconds, against a query per request."""
        if self._watch_file is None:
            return None
        with self._watch_lock:
            try:
                if self._watch is None:
                    self._watch = sqlite3.connect(self._watch_file, check_same_thread=False)
                row = self._watch.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                return None  # the caller reads the row, which reports what is wrong
        return int(row[0])

    def add(
        self,
        *,
        name: str,
        key: str,
        salt: str,
        digest: str,
        allowed_cidrs: list[str],
        read_only: bool,
        created_at: dt.datetime,
    ) -> StoredScimToken:
        """Record a new token; :class:`DuplicateScimTokenError` if the name (or key) is taken."""
        row = {
            "name": name,
            "key": key,
            "salt": salt,
            "digest": digest,
            "allowed_cidrs": list(allowed_cidrs),
            "read_only": read_only,
            "created_at": aware(created_at, "created_at"),
            "last_used_at": None,
            "revoked_at": None,
            "scope": self._scope,
        }
        try:
            with write_transaction(self._engine, self._url) as conn:
                taken = conn.execute(select(SCIM_TOKENS.c.id).where(SCIM_TOKENS.c.name == name))
                if taken.first() is not None:
                    raise DuplicateScimTokenError(f"a token named {name!r} exists already")
                conn.execute(insert(SCIM_TOKENS).values(**row))
        except DatabaseError as exc:
            if not violates_constraint(exc):
                raise
            # A concurrent create of the same name, or a key drawn twice.
            raise DuplicateScimTokenError(f"a token named {name!r} exists already") from exc
        found = self.by_name(name)
        assert found is not None
        return found

    def list_tokens(self, *, include_revoked: bool = False) -> list[StoredScimToken]:
        """Tokens in the order they were created; revoked ones only on request."""
        query = select(*_COLUMNS).where(SCIM_TOKENS.c.scope == self._scope).order_by(SCIM_TOKENS.c.id)
        if not include_revoked:
            query = query.where(SCIM_TOKENS.c.revoked_at.is_(None))
        with read_connection(self._engine, self._url) as conn:
            return [StoredScimToken(*row) for row in conn.execute(query)]

    def by_name(self, name: str) -> StoredScimToken | None:
        """The token called ``name``, revoked or not."""
        return self._one(SCIM_TOKENS.c.name == name)

    def by_key(self, key: str) -> StoredScimToken | None:
        """The token whose public part is ``key``, revoked or not."""
        with read_connection(self._engine, self._url) as conn:
            row = conn.execute(_BY_KEY, {"key": key, "scope": self._scope}).first()
        return None if row is None else StoredScimToken(*row)

    def _one(self, condition: ColumnElement[bool]) -> StoredScimToken | None:
        with read_connection(self._engine, self._url) as conn:
            row = conn.execute(
                select(*_COLUMNS).where(condition, SCIM_TOKENS.c.scope == self._scope)
            ).first()
        return None if row is None else StoredScimToken(*row)

    def revoke(self, name: str, *, revoked_at: dt.datetime) -> bool:
        """Revoke the live token called ``name``; False if there is none."""
        when = aware(revoked_at, "revoked_at")
        with write_transaction(self._engine, self._url) as conn:
            result = conn.execute(
                update(SCIM_TOKENS)
                .where(
                    SCIM_TOKENS.c.name == name,
                    SCIM_TOKENS.c.revoked_at.is_(None),
                    SCIM_TOKENS.c.scope == self._scope,
                )
                .values(revoked_at=when)
            )
        return result.rowcount > 0

    def request_counts(self) -> dict[int, dict[int, int]]:
        """Requests answered, by token id, then HTTP status."""
        columns = (SCIM_TOKEN_COUNTS.c.token_id, SCIM_TOKEN_COUNTS.c.status, SCIM_TOKEN_COUNTS.c.count)
        counts: dict[int, dict[int, int]] = {}
        with read_connection(self._engine, self._url) as conn:
            for token_id, status, n in conn.execute(select(*columns)):
                counts.setdefault(token_id, {})[status] = n
        return counts

    def add_requests(
        self, counts: Mapping[tuple[int, int], int], last_used: Mapping[int, dt.datetime]
    ) -> None:
        """Add request counts (by token id and HTTP status) and set when tokens were last used,
        in one transaction."""
        with write_transaction(self._engine, self._url) as conn:
            for (token_id, status), n in counts.items():
                key = (SCIM_TOKEN_COUNTS.c.token_id == token_id) & (SCIM_TOKEN_COUNTS.c.status == status)
                result = conn.execute(
                    update(SCIM_TOKEN_COUNTS).where(key).values(count=SCIM_TOKEN_COUNTS.c.count + n)
                )
                if result.rowcount == 0:
                    conn.execute(
                        insert(SCIM_TOKEN_COUNTS).values(token_id=token_id, status=status, count=n)
                    )
            for token_id, when in last_used.items():
                conn.execute(
                    update(SCIM_TOKENS)
                    .where(SCIM_TOKENS.c.id == token_id)
                    .values(last_used_at=aware(when, "last_used_at"))
                )
