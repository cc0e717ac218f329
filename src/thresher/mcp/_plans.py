"""Plans waiting for ``apply_plan``: kept in this process's memory, one use each, short-lived.

A plan is the exact changes plus the basis they were computed on (``thresher.provision``'s saved
plan, without the file). Its confirmation id is 128 random bits: knowing it is the permission to
apply, within ``ttl`` of the plan being made, once.

Why memory and not the store: over stdio, the client talks to one process for the whole session,
so the plan is applied where it was made. Over HTTP, every request of every session reaches the
same process (``thresher mcp --http`` is one process; ``thresher serve`` mounts one server), so the
same holds; a deployment that spreads one server over several processes must pin an MCP session
to one of them (its ``Mcp-Session-Id`` header), as streamable HTTP sessions need anyway. A plan
lost to a restart is simply made again: nothing was written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

from thresher.provision import SavedPlan

from ._errors import PlanNotFoundError

__all__ = ["PendingPlan", "PlanBook", "PlanKind"]

PlanKind = Literal["create_user", "update_user", "offboard", "set_teammates", "roster"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class PendingPlan:
    """A plan made by a ``plan_*`` tool and not applied yet."""

    id: str
    kind: PlanKind
    saved: SavedPlan
    expires_at: dt.datetime
    #: What the agent was shown: the changes, warnings and notes, JSON-safe.
    shown: dict[str, Any]
    #: Offboarding only: the user, and whether to delete, leave teams, leave roles.
    offboard: dict[str, Any] | None = None


class PlanBook:
    """The plans of one server: at most ``capacity``, each valid ``ttl`` after it was made."""

    def __init__(
        self,
        *,
        ttl: dt.timedelta = dt.timedelta(minutes=10),
        capacity: int = 1000,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._clock = clock
        self._plans: OrderedDict[str, PendingPlan] = OrderedDict()
        self._lock = threading.Lock()

    def add(
        self,
        kind: PlanKind,
        saved: SavedPlan,
        shown: dict[str, Any],
        *,
        offboard: dict[str, Any] | None = None,
    ) -> PendingPlan:
        plan = PendingPlan(
            id=f"plan_{secrets.token_urlsafe(16)}",
            kind=kind,
            saved=saved,
            expires_at=self._clock() + self.ttl,
            shown=shown,
            offboard=offboard,
        )
        with self._lock:
            self._drop_expired()
            while len(self._plans) >= self.capacity:
                self._plans.popitem(last=False)
            self._plans[plan.id] = plan
        return plan

    def take(self, plan_id: str) -> PendingPlan:
        """Remove and return the plan: it is applied at most once, whatever the outcome."""
        with self._lock:
            plan = self._plans.pop(plan_id.strip(), None)
        if plan is None or plan.expires_at <= self._clock():
            raise PlanNotFoundError(
                "no plan waits under this confirmation id: it was applied already, expired "
                f"(plans last {int(self.ttl.total_seconds() // 60)} minutes), or was made by "
                "another server process",
                hint="Make the plan again with the plan_* tool and apply its new confirmation id.",
            )
        return plan

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired()
            return len(self._plans)

    def _drop_expired(self) -> None:
        now = self._clock()
        for key in [k for k, p in self._plans.items() if p.expires_at <= now]:
            del self._plans[key]
