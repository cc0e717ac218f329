"""Replaying the change log: the log is complete exactly when replay reproduces the mirror."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import ReplayError
from ._fields import USER_FIELDS
from ._records import ChangeEvent

__all__ = ["replay"]


def replay(
    snapshot: Mapping[int, Mapping[str, Any]],
    events: Iterable[ChangeEvent],
    *,
    strict: bool = True,
) -> dict[int, dict[str, Any]]:
    """Apply user events, in order, to a copy of ``snapshot`` (as from ``Store.snapshot_users``).

    Replaying the events recorded after a snapshot over it gives the later snapshot. Role events
    and ``teammates_changed`` do not touch user fields and are skipped. With ``strict`` (the
    default) every event must fit: a ``created`` user must be absent, others present, and each
    change's ``before`` must equal the current value; otherwise :class:`ReplayError`.
    """
    state = {hid: dict(copy.deepcopy(fields)) for hid, fields in snapshot.items()}
    for event in events:
        if event.resource != "user" or event.kind == "teammates_changed":
            continue
        hid = event.harvest_id
        current = state.get(hid)
        if event.kind == "created":
            if strict and current is not None:
                raise ReplayError(f"event #{event.id} creates user {hid}, already in the snapshot")
            state[hid] = {f: copy.deepcopy(event.changes[f]["after"]) for f in USER_FIELDS}
            continue
        if current is None:
            if strict:
                raise ReplayError(
                    f"event #{event.id} ({event.kind}) is for user {hid}, absent from the snapshot"
                )
            continue
        if strict:
            for field, change in event.changes.items():
                if current.get(field) != change["before"]:
                    raise ReplayError(
                        f"event #{event.id} ({event.kind}) says user {hid}'s {field} was "
                        f"{change['before']!r}, the snapshot has {current.get(field)!r}"
                    )
        if event.kind == "deleted":
            del state[hid]
            continue
        for field, change in event.changes.items():
            current[field] = copy.deepcopy(change["after"])
    return state
