"""Building change events: the batch of one write call, and the kinds a user's diff splits into."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from ._fields import USER_FIELDS, field_changes
from ._records import ChangeEvent, EventKind, EventResource, EventSource

__all__ = ["PendingEvents", "user_change_events"]

Changes = dict[str, dict[str, Any]]


class PendingEvents:
    """The events of one write call, recorded together once its rows are written.

    Kept column by column rather than as one dict or tuple per event: a 10,000-user page makes
    10,000 events, and each extra container alive until the page is written is one more object
    for the cycle collector's full passes to walk (see ``_bulk``).
    """

    __slots__ = ("changes", "connection_id", "harvest_ids", "kinds", "observed_at", "resources", "source")

    def __init__(self, connection_id: int, observed_at: dt.datetime, source: EventSource) -> None:
        self.connection_id = connection_id
        self.observed_at = observed_at
        self.source = source
        self.resources: list[EventResource] = []
        self.harvest_ids: list[int] = []
        self.kinds: list[EventKind] = []
        self.changes: list[Changes] = []

    def __len__(self) -> int:
        return len(self.kinds)

    def add(self, resource: EventResource, harvest_id: int, kind: EventKind, changes: Changes) -> None:
        self.resources.append(resource)
        self.harvest_ids.append(harvest_id)
        self.kinds.append(kind)
        self.changes.append(changes)

    def events(self, ids: Sequence[int]) -> list[ChangeEvent]:
        """The events as recorded under ``ids`` (one per event, in order)."""
        cid, observed, source = self.connection_id, self.observed_at, self.source
        return [
            ChangeEvent(i, cid, resource, hid, kind, changes, observed, source)
            for i, resource, hid, kind, changes in zip(
                ids, self.resources, self.harvest_ids, self.kinds, self.changes, strict=True
            )
        ]


def user_change_events(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[EventKind, Changes]]:
    """A live user's diff as events: ``restored``, ``updated``, ``roles_changed``, ``archived``,
    in that order, each carrying only its own fields (none when only untracked fields moved)."""
    changes = field_changes(before, after, USER_FIELDS)
    active = changes.pop("is_active", None)
    roles = changes.pop("roles", None)
    out: list[tuple[EventKind, Changes]] = []
    # A restore comes first and an archive last: Harvest freezes names and emails of archived
    # users, so edits that arrive with either happened while the user was active.
    if active is not None and active["after"]:
        out.append(("restored", {"is_active": active}))
    if changes:
        out.append(("updated", changes))
    if roles is not None:
        out.append(("roles_changed", {"roles": roles}))
    if active is not None and not active["after"]:
        out.append(("archived", {"is_active": active}))
    return out
