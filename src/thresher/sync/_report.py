"""How a connection is synced (``SyncOptions``) and what one run did (``SyncReport``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import Literal

__all__ = ["ProgressCallback", "SyncOptions", "SyncReport"]

#: ``progress(stage, done, total)``; ``total`` is None while unknown.
ProgressCallback = Callable[[str, int, int | None], None]


@dataclasses.dataclass(frozen=True)
class SyncOptions:
    """How a connection is synced."""

    #: Re-read this much before the high-water mark on incremental runs (clock granularity, and
    #: writes Harvest commits with a slightly earlier ``updated_at`` than the listing saw).
    overlap: dt.timedelta = dt.timedelta(seconds=60)
    #: A full listing (which detects deletes) at least this often.
    reconcile_every: dt.timedelta = dt.timedelta(hours=1)
    #: Page size for user listings; None lets the client use Harvest's maximum (2000).
    per_page: int | None = None
    #: Re-read teammates of people managers ("changed": whose record changed; "all"; "off").
    teammates: Literal["changed", "all", "off"] = "changed"
    #: Sync roles (administrator tokens only; others get 403 from Harvest).
    roles: bool = True
    #: Seconds a run's lease lasts without a heartbeat: how long a run that died on another
    #: machine (or froze) keeps others out. A dead process on this machine is noticed at once.
    lease_ttl: float = 30.0
    #: Seconds between heartbeats; None means a third of ``lease_ttl``.
    heartbeat_every: float | None = None
    #: Seconds between attempts to take a held lease when waiting for it.
    lease_poll: float = 1.0
    #: Teammate lists read at once (the client's own cap and rate limiter still apply).
    teammate_concurrency: int = 8


@dataclasses.dataclass
class SyncReport:
    """What one run did."""

    connection: str
    kind: Literal["full", "incremental"]
    #: The run finished a listing an earlier, interrupted run had started.
    resumed: bool = False
    #: Every change made before the run started is in the mirror (a resumed listing is followed
    #: by an incremental pass from its mark before the run reports success).
    caught_up: bool = False
    pages: int = 0
    users_seen: int = 0
    requests: int = 0
    teammate_lists: int = 0
    #: Managers whose teammate lists still need reading when the run ended (none unless the
    #: teammates phase is turned off).
    pending_teammates: int = 0
    roles_seen: int = 0
    #: User events by kind (created, updated, archived, ...), teammates_changed included.
    events: Counter[str] = dataclasses.field(default_factory=Counter)
    #: Role events by kind.
    role_events: Counter[str] = dataclasses.field(default_factory=Counter)
    duration_s: float = 0.0
    #: The users phase (every listing pass) and the teammates phase, each on its own.
    users_s: float = 0.0
    teammates_s: float = 0.0

    @property
    def changes(self) -> int:
        return sum(self.events.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "connection": self.connection,
            "kind": self.kind,
            "resumed": self.resumed,
            "caught_up": self.caught_up,
            "pages": self.pages,
            "users_seen": self.users_seen,
            "roles_seen": self.roles_seen,
            "teammate_lists": self.teammate_lists,
            "pending_teammates": self.pending_teammates,
            "requests": self.requests,
            "events": dict(self.events),
            "role_events": dict(self.role_events),
            "duration_s": round(self.duration_s, 3),
            "users_s": round(self.users_s, 3),
            "teammates_s": round(self.teammates_s, 3),
        }
