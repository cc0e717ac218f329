"""The service's rows (``thresher serve``): admins, sessions, API tokens, the shared schedule,
run history, usage counters and rate-budget headroom samples (tables in ``_serve_schema``).

Only digests and hashes reach these tables; the service makes them (``thresher.serve``). Every
database error is a :class:`~thresher.store.StoreError`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update

from ._arguments import aware
from ._database import read_connection, violates_constraint, write_transaction
from ._errors import DatabaseError, InvalidArgumentError
from ._serve_schema import (
    ADMIN_SESSIONS,
    ADMIN_TOKENS,
    ADMIN_USERS,
    HEADROOM_SAMPLES,
    SERVE_RUNS,
    SERVE_SCHEDULES,
    USAGE_COUNTS,
)
from ._store import Store

__all__ = ["ServeRecords", "StoredAdmin", "StoredAdminToken", "StoredRun", "UsageKey"]

#: (UTC day ``YYYY-MM-DD``, channel, subject, HTTP status) of a usage counter.
UsageKey = tuple[str, str, str, int]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredAdmin:
    id: int
    username: str
    password_hash: str = dataclasses.field(repr=False)
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    disabled_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class StoredAdminToken:
    id: int
    name: str
    key: str
    salt: str = dataclasses.field(repr=False)
    digest: str = dataclasses.field(repr=False)
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class StoredRun:
    id: int
    connection_id: int
    kind: str
    holder: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str
    users_seen: int
    changes: int
    requests: int
    duration_s: float
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("started_at", "finished_at"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        return data


_ADMIN = [ADMIN_USERS.c[f.name] for f in dataclasses.fields(StoredAdmin)]
_TOKEN = [ADMIN_TOKENS.c[f.name] for f in dataclasses.fields(StoredAdminToken)]
_RUN = [SERVE_RUNS.c[f.name] for f in dataclasses.fields(StoredRun)]


class ServeRecords:
    """Reads and writes of the service's tables on one store."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self._url = store.url

    def _read(self) -> Any:
        return read_connection(self._engine, self._url)

    def _write(self) -> Any:
        return write_transaction(self._engine, self._url)

    # -- admins ------------------------------------------------------------------------------

    def add_admin(self, username: str, password_hash: str, *, created_at: dt.datetime) -> StoredAdmin:
        """A new admin; :class:`InvalidArgumentError` if the name is taken."""
        try:
            with self._write() as conn:
                if conn.execute(select(ADMIN_USERS.c.id).where(ADMIN_USERS.c.username == username)).first():
                    raise InvalidArgumentError(f"an admin named {username!r} exists already")
                conn.execute(
                    insert(ADMIN_USERS).values(
                        username=username, password_hash=password_hash,
                        created_at=aware(created_at, "created_at"),
                    )
                )
        except DatabaseError as exc:
            if not violates_constraint(exc):
                raise
            raise InvalidArgumentError(f"an admin named {username!r} exists already") from exc
        found = self.admin_by_username(username)
        assert found is not None
        return found

    def set_admin_password(self, username: str, password_hash: str) -> bool:
        """Replace an admin's hash and end their sessions; False if there is no such admin."""
        with self._write() as conn:
            row = conn.execute(select(ADMIN_USERS.c.id).where(ADMIN_USERS.c.username == username)).first()
            if row is None:
                return False
            conn.execute(update(ADMIN_USERS).where(ADMIN_USERS.c.id == row.id).values(
                password_hash=password_hash, disabled_at=None))
            conn.execute(delete(ADMIN_SESSIONS).where(ADMIN_SESSIONS.c.user_id == row.id))
        return True

    def admin_by_username(self, username: str) -> StoredAdmin | None:
        return self._admin(ADMIN_USERS.c.username == username)

    def _admin(self, condition: ColumnElement[bool]) -> StoredAdmin | None:
        with self._read() as conn:
            row = conn.execute(select(*_ADMIN).where(condition)).first()
        return None if row is None else StoredAdmin(*row)

    def list_admins(self) -> list[StoredAdmin]:
        with self._read() as conn:
            return [StoredAdmin(*r) for r in conn.execute(select(*_ADMIN).order_by(ADMIN_USERS.c.id))]

    # -- sessions ----------------------------------------------------------------------------

    def add_session(
        self, session_id: str, user_id: int, *, created_at: dt.datetime, expires_at: dt.datetime
    ) -> None:
        """Record a session (``session_id``: a digest of the cookie) and the admin's login."""
        with self._write() as conn:
            conn.execute(insert(ADMIN_SESSIONS).values(
                id=session_id, user_id=user_id, created_at=aware(created_at, "created_at"),
                expires_at=aware(expires_at, "expires_at")))
            conn.execute(update(ADMIN_USERS).where(ADMIN_USERS.c.id == user_id).values(
                last_login_at=aware(created_at, "created_at")))

    def session_admin(self, session_id: str, *, now: dt.datetime) -> StoredAdmin | None:
        """The live admin of a live session, or None."""
        query = (
            select(*_ADMIN)
            .join(ADMIN_SESSIONS, ADMIN_SESSIONS.c.user_id == ADMIN_USERS.c.id)
            .where(
                ADMIN_SESSIONS.c.id == session_id,
                ADMIN_SESSIONS.c.expires_at > aware(now, "now"),
                ADMIN_USERS.c.disabled_at.is_(None),
            )
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else StoredAdmin(*row)

    def end_session(self, session_id: str) -> None:
        with self._write() as conn:
            conn.execute(delete(ADMIN_SESSIONS).where(ADMIN_SESSIONS.c.id == session_id))

    def purge_sessions(self, *, now: dt.datetime) -> int:
        with self._write() as conn:
            result = conn.execute(
                delete(ADMIN_SESSIONS).where(ADMIN_SESSIONS.c.expires_at <= aware(now, "now"))
            )
        return int(result.rowcount)

    # -- API tokens --------------------------------------------------------------------------

    def add_token(
        self, *, name: str, key: str, salt: str, digest: str, created_at: dt.datetime
    ) -> StoredAdminToken:
        try:
            with self._write() as conn:
                if conn.execute(select(ADMIN_TOKENS.c.id).where(ADMIN_TOKENS.c.name == name)).first():
                    raise InvalidArgumentError(f"an API token named {name!r} exists already")
                conn.execute(insert(ADMIN_TOKENS).values(
                    name=name, key=key, salt=salt, digest=digest,
                    created_at=aware(created_at, "created_at")))
        except DatabaseError as exc:
            if not violates_constraint(exc):
                raise
            raise InvalidArgumentError(f"an API token named {name!r} exists already") from exc
        found = self._token(ADMIN_TOKENS.c.name == name)
        assert found is not None
        return found

    def token_by_key(self, key: str) -> StoredAdminToken | None:
        return self._token(ADMIN_TOKENS.c.key == key)

    def _token(self, condition: ColumnElement[bool]) -> StoredAdminToken | None:
        with self._read() as conn:
            row = conn.execute(select(*_TOKEN).where(condition)).first()
        return None if row is None else StoredAdminToken(*row)

    def list_tokens(self, *, include_revoked: bool = False) -> list[StoredAdminToken]:
        query = select(*_TOKEN).order_by(ADMIN_TOKENS.c.id)
        if not include_revoked:
            query = query.where(ADMIN_TOKENS.c.revoked_at.is_(None))
        with self._read() as conn:
            return [StoredAdminToken(*r) for r in conn.execute(query)]

    def revoke_token(self, name: str, *, revoked_at: dt.datetime) -> bool:
        with self._write() as conn:
            result = conn.execute(
                update(ADMIN_TOKENS)
                .where(ADMIN_TOKENS.c.name == name, ADMIN_TOKENS.c.revoked_at.is_(None))
                .values(revoked_at=aware(revoked_at, "revoked_at"))
            )
        return int(result.rowcount) > 0

    def touch_token(self, token_id: int, *, used_at: dt.datetime) -> None:
        with self._write() as conn:
            conn.execute(update(ADMIN_TOKENS).where(ADMIN_TOKENS.c.id == token_id).values(
                last_used_at=aware(used_at, "used_at")))

    # -- the shared schedule -----------------------------------------------------------------

    def ensure_schedule(self, connection_id: int, job: str, *, due_at: dt.datetime) -> None:
        """Create the job's row (due at ``due_at``) unless another process already did."""
        with self._write() as conn:
            key = (SERVE_SCHEDULES.c.connection_id == connection_id) & (SERVE_SCHEDULES.c.job == job)
            if conn.execute(select(SERVE_SCHEDULES.c.job).where(key)).first() is None:
                conn.execute(insert(SERVE_SCHEDULES).values(
                    connection_id=connection_id, job=job, next_due_at=aware(due_at, "due_at")))

    def claim(
        self, connection_id: int, job: str, holder: str, *, now: dt.datetime, next_due: dt.datetime
    ) -> bool:
        """Take the job if it is due: one conditional update, so of several processes that find it
        due at once exactly one gets True; it becomes due again at ``next_due``."""
        when = aware(now, "now")
        with self._write() as conn:
            result = conn.execute(
                update(SERVE_SCHEDULES)
                .where(
                    SERVE_SCHEDULES.c.connection_id == connection_id,
                    SERVE_SCHEDULES.c.job == job,
                    SERVE_SCHEDULES.c.next_due_at <= when,
                )
                .values(next_due_at=aware(next_due, "next_due"), claimed_by=holder, claimed_at=when)
            )
        return int(result.rowcount) == 1

    def set_due(self, connection_id: int, job: str, *, due_at: dt.datetime) -> None:
        """Make a job due at ``due_at`` (earlier only), e.g. "sync now"."""
        when = aware(due_at, "due_at")
        self.ensure_schedule(connection_id, job, due_at=when)
        with self._write() as conn:
            conn.execute(
                update(SERVE_SCHEDULES)
                .where(
                    SERVE_SCHEDULES.c.connection_id == connection_id,
                    SERVE_SCHEDULES.c.job == job,
                    SERVE_SCHEDULES.c.next_due_at > when,
                )
                .values(next_due_at=when)
            )

    def schedules(self) -> dict[tuple[int, str], dt.datetime]:
        """When each (connection id, job) is due next."""
        cols = (SERVE_SCHEDULES.c.connection_id, SERVE_SCHEDULES.c.job, SERVE_SCHEDULES.c.next_due_at)
        with self._read() as conn:
            return {(c, j): due for c, j, due in conn.execute(select(*cols))}

    # -- runs --------------------------------------------------------------------------------

    def start_run(self, connection_id: int, kind: str, holder: str, *, started_at: dt.datetime) -> int:
        with self._write() as conn:
            result = conn.execute(insert(SERVE_RUNS).values(
                connection_id=connection_id, kind=kind, holder=holder,
                started_at=aware(started_at, "started_at"), outcome="running", users_seen=0,
                changes=0, requests=0, duration_s=0.0))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(
        self, run_id: int, outcome: str, *, finished_at: dt.datetime, users_seen: int = 0,
        changes: int = 0, requests: int = 0, duration_s: float = 0.0, error: str | None = None,
        kind: str | None = None,
    ) -> None:
        """Record how a run ended (``kind``: full or incremental, once the run knows)."""
        extra = {} if kind is None else {"kind": kind}
        with self._write() as conn:
            conn.execute(update(SERVE_RUNS).where(SERVE_RUNS.c.id == run_id).values(
                **extra, outcome=outcome, finished_at=aware(finished_at, "finished_at"),
                users_seen=users_seen, changes=changes, requests=requests,
                duration_s=duration_s, error=error))

    def recent_runs(self, connection_id: int | None = None, *, limit: int = 20) -> list[StoredRun]:
        query = select(*_RUN).order_by(SERVE_RUNS.c.id.desc()).limit(limit)
        if connection_id is not None:
            query = query.where(SERVE_RUNS.c.connection_id == connection_id)
        with self._read() as conn:
            return [StoredRun(*r) for r in conn.execute(query)]

    def last_runs(self) -> dict[int, tuple[StoredRun | None, StoredRun | None]]:
        """Per connection id: its newest run of any outcome, and its newest successful run."""
        newest = select(func.max(SERVE_RUNS.c.id)).group_by(SERVE_RUNS.c.connection_id)
        newest_ok = (
            select(func.max(SERVE_RUNS.c.id))
            .where(SERVE_RUNS.c.outcome == "ok")
            .group_by(SERVE_RUNS.c.connection_id)
        )
        query = select(*_RUN).where(or_(SERVE_RUNS.c.id.in_(newest), SERVE_RUNS.c.id.in_(newest_ok)))
        found: dict[int, tuple[StoredRun | None, StoredRun | None]] = {}
        with self._read() as conn:
            runs = [StoredRun(*r) for r in conn.execute(query)]
        for run in sorted(runs, key=lambda r: r.id):
            _last, last_ok = found.get(run.connection_id, (None, None))
            found[run.connection_id] = (run, run if run.outcome == "ok" else last_ok)
        return found

    def count_runs(self, connection_id: int, *, outcome: str | None = None) -> int:
        query = select(func.count()).select_from(SERVE_RUNS).where(
            SERVE_RUNS.c.connection_id == connection_id)
        if outcome is not None:
            query = query.where(SERVE_RUNS.c.outcome == outcome)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- usage -------------------------------------------------------------------------------

    def add_usage(self, counts: Mapping[UsageKey, int]) -> None:
        """Add request counts in one transaction."""
        if not counts:
            return
        with self._write() as conn:
            for (day, channel, subject, status), n in counts.items():
                key = (
                    (USAGE_COUNTS.c.day == day) & (USAGE_COUNTS.c.channel == channel)
                    & (USAGE_COUNTS.c.subject == subject) & (USAGE_COUNTS.c.status == status)
                )
                done = conn.execute(
                    update(USAGE_COUNTS).where(key).values(count=USAGE_COUNTS.c.count + n)
                )
                if done.rowcount == 0:
                    conn.execute(insert(USAGE_COUNTS).values(
                        day=day, channel=channel, subject=subject, status=status, count=n))

    def usage(self, *, since_day: str) -> dict[UsageKey, int]:
        cols = (USAGE_COUNTS.c.day, USAGE_COUNTS.c.channel, USAGE_COUNTS.c.subject,
                USAGE_COUNTS.c.status, USAGE_COUNTS.c.count)
        with self._read() as conn:
            rows = conn.execute(select(*cols).where(USAGE_COUNTS.c.day >= since_day))
            return {(d, c, s, st): int(n) for d, c, s, st, n in rows}

    # -- rate-budget headroom ----------------------------------------------------------------

    def add_headroom(
        self, connection_id: int, *, sampled_at: dt.datetime, headroom: int, rate_limit: int,
        keep_after: dt.datetime | None = None,
    ) -> None:
        """Record a sample; samples older than ``keep_after`` are dropped in the same commit."""
        with self._write() as conn:
            conn.execute(insert(HEADROOM_SAMPLES).values(
                connection_id=connection_id, sampled_at=aware(sampled_at, "sampled_at"),
                headroom=headroom, rate_limit=rate_limit))
            if keep_after is not None:
                conn.execute(delete(HEADROOM_SAMPLES).where(
                    HEADROOM_SAMPLES.c.connection_id == connection_id,
                    HEADROOM_SAMPLES.c.sampled_at < aware(keep_after, "keep_after")))

    def headroom(self, *, since: dt.datetime) -> list[tuple[int, dt.datetime, int, int]]:
        """(connection id, when, free places, limit), oldest first."""
        cols = (HEADROOM_SAMPLES.c.connection_id, HEADROOM_SAMPLES.c.sampled_at,
                HEADROOM_SAMPLES.c.headroom, HEADROOM_SAMPLES.c.rate_limit)
        query = select(*cols).where(HEADROOM_SAMPLES.c.sampled_at >= aware(since, "since"))
        with self._read() as conn:
            return [(c, at, h, lim) for c, at, h, lim in conn.execute(
                query.order_by(HEADROOM_SAMPLES.c.sampled_at))]
