"""What the store hands out: plain, immutable records (no live database objects)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import uuid
from decimal import Decimal
from typing import Any, Literal

from ._fields import USER_FIELDS, iso, user_fields
from ._types import canonical_decimal

__all__ = [
    "USERS_RESOURCE",
    "ChangeEvent",
    "EventKind",
    "EventResource",
    "EventSource",
    "Lease",
    "LeaseHolder",
    "RunKind",
    "StoredConnection",
    "StoredRole",
    "StoredUser",
    "SyncState",
]

EventKind = Literal[
    "created", "updated", "archived", "restored", "deleted", "roles_changed", "teammates_changed"
]
#: ``mcp``: a write an agent applied through the MCP server (``thresher.mcp``).
EventSource = Literal["sync", "write", "mcp"]
EventResource = Literal["user", "role"]
RunKind = Literal["full", "incremental"]

#: The sync-state resource of the users listing; its full run in progress, if any, counts
#: users written through meanwhile as seen (``StoreTransaction.apply_users``).
USERS_RESOURCE = "users"


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else iso(value)


@dataclasses.dataclass(frozen=True, slots=True)
class StoredConnection:
    """A Harvest account the store mirrors."""

    id: int
    name: str
    account_id: int
    label: str | None
    base_url: str
    id_url: str
    #: Opaque: an encrypted blob or a reference, written and read by the provisioning part.
    credentials_ref: str | None
    is_default: bool
    created_at: dt.datetime
    #: Grows with every save of the credentials; see ``Store.update_connection``.
    credentials_version: int = 0
    #: ``harvest`` or ``greenhouse`` (Greenhouse Recruiting; docs/greenhouse.md §6).
    provider: str = "harvest"
    #: Greenhouse only: the OAuth client id and the user id tokens act as.
    client_id: str | None = None
    sub: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe; ``credentials_ref`` is reduced to whether one is set."""
        return {
            "id": self.id,
            "name": self.name,
            "account_id": self.account_id,
            "label": self.label,
            "base_url": self.base_url,
            "id_url": self.id_url,
            "provider": self.provider,
            "has_credentials": self.credentials_ref is not None,
            "is_default": self.is_default,
            "created_at": iso(self.created_at),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class StoredUser:
    """A user as the mirror holds it: every Harvest field plus the mirror's own bookkeeping."""

    connection_id: int
    harvest_id: int
    first_name: str
    last_name: str
    email: str
    telephone: str | None
    timezone: str | None
    has_access_to_all_future_projects: bool
    is_contractor: bool
    is_active: bool
    weekly_capacity: int | None
    default_hourly_rate: Decimal | None
    cost_rate: Decimal | None
    roles: list[str]
    access_roles: list[str]
    avatar_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    #: Set when reconciliation found the user gone from Harvest, or a write deleted it.
    deleted_at: dt.datetime | None
    last_seen_run: str | None

    @property
    def id(self) -> int:
        """The Harvest id (as on :class:`thresher.harvest.User`)."""
        return self.harvest_id

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def status(self) -> Literal["active", "archived", "deleted"]:
        if self.deleted_at is not None:
            return "deleted"
        return "active" if self.is_active else "archived"

    def fields(self) -> dict[str, Any]:
        """The tracked Harvest fields, JSON-safe: one entry of ``Store.snapshot_users``."""
        return user_fields({f: getattr(self, f) for f in USER_FIELDS})

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: the Harvest user object (decimals as strings) plus the mirror's fields."""
        rate = self.default_hourly_rate
        cost = self.cost_rate
        return {
            "id": self.harvest_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "telephone": self.telephone,
            "timezone": self.timezone,
            "has_access_to_all_future_projects": self.has_access_to_all_future_projects,
            "is_contractor": self.is_contractor,
            "is_active": self.is_active,
            "weekly_capacity": self.weekly_capacity,
            "default_hourly_rate": None if rate is None else canonical_decimal(rate),
            "cost_rate": None if cost is None else canonical_decimal(cost),
            "roles": list(self.roles),
            "access_roles": list(self.access_roles),
            "avatar_url": self.avatar_url,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "status": self.status,
            "first_seen_at": iso(self.first_seen_at),
            "last_seen_at": iso(self.last_seen_at),
            "deleted_at": _iso(self.deleted_at),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class StoredRole:
    """A business role and its members (Harvest user ids, ascending)."""

    connection_id: int
    harvest_id: int
    name: str
    user_ids: list[int]
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.harvest_id,
            "name": self.name,
            "user_ids": list(self.user_ids),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "deleted_at": _iso(self.deleted_at),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class SyncState:
    """Where the sync of one resource of one connection stands.

    Saved in the same transaction as the page it describes (``StoreTransaction.save_sync_state``), so
    after a crash ``resume_url`` points just past the last page whose rows were committed. Use
    ``dataclasses.replace`` to derive the next state.
    """

    connection_id: int
    resource: str
    #: Server time up to which every change has been read (the next ``updated_since`` basis).
    high_water_mark: dt.datetime | None = None
    #: ``links.next`` of the last committed page of the run in progress.
    resume_url: str | None = None
    #: The run in progress (None between runs); full runs tag the users they list with it.
    run_id: str | None = None
    run_started_at: dt.datetime | None = None
    run_kind: RunKind | None = None
    last_full_sync_at: dt.datetime | None = None
    last_reconciled_at: dt.datetime | None = None
    #: People managers whose teammate lists still need reading (saved with the page that made
    #: them due, cleared as each list is read), so an interrupted teammates phase resumes.
    pending_teammates: frozenset[int] = frozenset()

    @property
    def in_progress(self) -> bool:
        return self.run_id is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "resource": self.resource,
            "high_water_mark": _iso(self.high_water_mark),
            "resume_url": self.resume_url,
            "run_id": self.run_id,
            "run_started_at": _iso(self.run_started_at),
            "run_kind": self.run_kind,
            "last_full_sync_at": _iso(self.last_full_sync_at),
            "last_reconciled_at": _iso(self.last_reconciled_at),
            "pending_teammates": sorted(self.pending_teammates),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One entry of the change log.

    ``changes`` is field-level, ``{field: {"before": x, "after": y}}`` with JSON-safe values
    (decimals as strings, datetimes as ISO 8601 UTC strings). ``created`` carries every tracked
    field with ``before`` None, ``deleted`` every field with ``after`` None; ``teammates_changed``
    carries ``teammate_ids``; role events carry ``name``, ``user_ids`` and ``created_at``.
    """

    id: int
    connection_id: int
    resource: EventResource
    harvest_id: int
    kind: EventKind
    changes: dict[str, dict[str, Any]]
    observed_at: dt.datetime
    source: EventSource

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connection_id": self.connection_id,
            "resource": self.resource,
            "harvest_id": self.harvest_id,
            "kind": self.kind,
            "changes": self.changes,
            "observed_at": iso(self.observed_at),
            "source": self.source,
        }


@dataclasses.dataclass(frozen=True)
class LeaseHolder:
    """Who asks for a lease: a fresh id per run, with the host and pid people can look up."""

    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    host: str = dataclasses.field(default_factory=socket.gethostname)
    pid: int = dataclasses.field(default_factory=os.getpid)


@dataclasses.dataclass(frozen=True)
class Lease:
    """A lease as stored: ``token`` fences the holder's writes."""

    connection_id: int
    purpose: str
    holder: str
    host: str
    pid: int
    token: int
    acquired_at: dt.datetime
    heartbeat_at: dt.datetime
    expires_at: dt.datetime
