"""Per-connection configuration (table ``connection_settings``, migrations r0009 and r0011): the interval,
reconcile schedule, teammates switch, SCIM delete mode and pause of each connection.

A connection without a row has :data:`DEFAULTS`. The workers (``thresher.jobs``) read every row on
each scheduling pass; ``thresher connections config`` and the Python API write them. Every
database error is a :class:`~thresher.store.StoreError`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal, get_args

from sqlalchemy import delete, insert, select, update

from ._arguments import aware
from ._database import read_connection, write_transaction
from ._errors import InvalidArgumentError
from ._serve_schema import SERVE_SCHEDULES
from ._settings_schema import CONNECTION_SETTINGS
from ._store import Store

__all__ = ["ConnectionSettings", "ConnectionSettingsStore", "ScimDeleteMode", "TeammatesMode"]

TeammatesMode = Literal["changed", "all", "off"]
ScimDeleteMode = Literal["archive", "delete"]


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """What a platform configures for one connection (a customer's Harvest account)."""

    connection_id: int
    #: Seconds between incremental syncs.
    interval_s: float = 60.0
    #: Seconds between full listings (which detect deletes).
    reconcile_s: float = 3600.0
    teammates: TeammatesMode = "changed"
    #: None: what the SCIM bridge was started with (``--delete-mode``; r0011).
    scim_delete_mode: ScimDeleteMode | None = None
    paused: bool = False
    paused_reason: str | None = None
    paused_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("paused_at", "updated_at"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        return data


_COLUMNS = [CONNECTION_SETTINGS.c[f.name] for f in dataclasses.fields(ConnectionSettings)]
_NULLABLE = {"paused_reason", "scim_delete_mode"}
_EDITABLE = {"interval_s", "reconcile_s", "teammates", "scim_delete_mode", "paused", "paused_reason"}


def _check(changes: dict[str, Any]) -> None:
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise InvalidArgumentError(f"unknown connection setting(s): {', '.join(sorted(unknown))}")
    for name in ("interval_s", "reconcile_s"):
        value = changes.get(name)
        if value is not None and not value > 0:
            raise InvalidArgumentError(f"{name} must be a positive number of seconds, not {value!r}")
    if changes.get("teammates") not in (None, *get_args(TeammatesMode)):
        raise InvalidArgumentError(
            f"teammates must be one of {', '.join(get_args(TeammatesMode))}, not {changes['teammates']!r}"
        )
    if changes.get("scim_delete_mode") not in (None, *get_args(ScimDeleteMode)):
        raise InvalidArgumentError(
            f"scim_delete_mode must be archive, delete or unset (None), not {changes['scim_delete_mode']!r}"
        )


class ConnectionSettingsStore:
    """Reads and writes of ``connection_settings`` on one store."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self._url = store.url

    def get(self, connection_id: int) -> ConnectionSettings:
        """The connection's settings; the defaults when none were ever set."""
        query = select(*_COLUMNS).where(CONNECTION_SETTINGS.c.connection_id == connection_id)
        with read_connection(self._engine, self._url) as conn:
            row = conn.execute(query).first()
        return ConnectionSettings(*row) if row is not None else ConnectionSettings(connection_id)

    def all(self) -> dict[int, ConnectionSettings]:
        """Every stored row by connection id (connections missing here have the defaults)."""
        with read_connection(self._engine, self._url) as conn:
            return {r[0]: ConnectionSettings(*r) for r in conn.execute(select(*_COLUMNS))}

    def update(self, connection_id: int, *, now: dt.datetime, **changes: Any) -> ConnectionSettings:
        """Change some settings (``interval_s=30``, ``paused=True, paused_reason=...``), creating
        the row from the defaults first; returns the result. Resuming clears the reason."""
        # None means "not given", except where it is a value: no reason, or no delete mode of
        # its own (the bridge's flag decides).
        changes = {k: v for k, v in changes.items() if v is not None or k in _NULLABLE}
        _check(changes)
        when = aware(now, "now")
        if "paused" in changes:
            changes["paused_at"] = when if changes["paused"] else None
            if not changes["paused"]:
                changes["paused_reason"] = None
        with write_transaction(self._engine, self._url) as conn:
            key = CONNECTION_SETTINGS.c.connection_id == connection_id
            if conn.execute(select(CONNECTION_SETTINGS.c.connection_id).where(key)).first() is None:
                row = dataclasses.asdict(ConnectionSettings(connection_id))
                conn.execute(insert(CONNECTION_SETTINGS).values({**row, "updated_at": when}))
            conn.execute(update(CONNECTION_SETTINGS).where(key).values(**changes, updated_at=when))
        return self.get(connection_id)

    def pause(self, connection_id: int, reason: str, *, now: dt.datetime) -> ConnectionSettings:
        return self.update(connection_id, now=now, paused=True, paused_reason=reason)

    def resume(self, connection_id: int, *, now: dt.datetime) -> ConnectionSettings:
        return self.update(connection_id, now=now, paused=False)

    def postpone(self, connection_id: int, job: str, *, due_at: dt.datetime) -> bool:
        """Move the connection's row of the shared schedule (``serve_schedules``) to ``due_at``
        unless it is due later already: a run that waited in a queue sets its next due time from
        when it really started, so a burst of due connections spreads out instead of recurring."""
        when = aware(due_at, "due_at")
        with write_transaction(self._engine, self._url) as conn:
            result = conn.execute(
                update(SERVE_SCHEDULES)
                .where(
                    SERVE_SCHEDULES.c.connection_id == connection_id,
                    SERVE_SCHEDULES.c.job == job,
                    SERVE_SCHEDULES.c.next_due_at < when,
                )
                .values(next_due_at=when)
            )
        return int(result.rowcount) == 1

    def claim_due(
        self, connection_ids: list[int], job: str, holder: str, *, now: dt.datetime, next_due: dt.datetime
    ) -> list[int]:
        """Claim, in one statement, those of ``connection_ids`` whose ``job`` is due by ``now``
        in the shared schedule, making them due again at ``next_due``; the ids claimed. The same
        conditional update as ``ServeRecords.claim``, for a whole scheduling pass at once."""
        if not connection_ids:
            return []
        when = aware(now, "now")
        with write_transaction(self._engine, self._url) as conn:
            rows = conn.execute(
                update(SERVE_SCHEDULES)
                .where(
                    SERVE_SCHEDULES.c.connection_id.in_(connection_ids),
                    SERVE_SCHEDULES.c.job == job,
                    SERVE_SCHEDULES.c.next_due_at <= when,
                )
                .values(next_due_at=aware(next_due, "next_due"), claimed_by=holder, claimed_at=when)
                .returning(SERVE_SCHEDULES.c.connection_id)
            )
            return [int(r[0]) for r in rows]

    def forget(self, connection_id: int) -> None:
        """Drop the row (back to the defaults); removing the connection drops it too."""
        with write_transaction(self._engine, self._url) as conn:
            key = CONNECTION_SETTINGS.c.connection_id == connection_id
            conn.execute(delete(CONNECTION_SETTINGS).where(key))
