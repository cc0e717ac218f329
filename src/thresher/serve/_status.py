"""Per-connection status, shared by the status API, the dashboard and ``/readyz``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from thresher.store import ConnectionSettingsStore, ServeRecords, Store

from ._scheduler import JOB, Scheduler

__all__ = ["connection_status"]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def connection_status(store: Store, scheduler: Scheduler) -> list[dict[str, Any]]:
    """Every connection: health (fresh, lagging, failing, never), last and next sync, lag,
    roster counts, credential expiry and budget headroom. Never a secret."""
    records: ServeRecords = scheduler.records
    runs = records.last_runs()
    due = records.schedules()
    # Paused by an operator or by a worker that met refused credentials (thresher.jobs).
    configs = ConnectionSettingsStore(store).all()
    now = dt.datetime.now(dt.UTC)
    result = []
    for connection in store.list_connections():
        state = scheduler.states.get(connection.name)
        interval, reconcile, max_lag = scheduler.settings.schedule(connection.name)
        last, last_ok = runs.get(connection.id, (None, None))
        lag = (now - last_ok.started_at).total_seconds() if last_ok else None
        if last is not None and last.outcome == "failed":
            health = "failing"
        elif last_ok is None:
            health = "never"
        elif lag is not None and lag > max_lag:
            health = "lagging"
        else:
            health = "fresh"
        counts = {
            "active": store.count_users(connection.id, active=True),
            "archived": store.count_users(connection.id, active=False),
        }
        result.append({
            "name": connection.name,
            "account_id": connection.account_id,
            "label": connection.label,
            "health": health,
            "enabled": scheduler.settings.enabled(connection.name),
            "running": bool(state and state.running),
            "interval_s": interval,
            "reconcile_every_s": reconcile,
            "max_lag_s": max_lag,
            "lag_s": round(lag, 1) if lag is not None else None,
            "last_sync": last.as_dict() if last else None,
            "last_good_sync_at": _iso(last_ok.started_at) if last_ok else None,
            "next_sync_at": _iso(due.get((connection.id, JOB))),
            "users": counts,
            "credential": {
                "kind": state.credential_kind if state else None,
                "expires_at": _iso(state.credential_expires_at) if state else None,
            },
            "budget_headroom": scheduler.headroom.get(connection.name),
            "paused": (
                {"reason": config.paused_reason, "at": _iso(config.paused_at)}
                if (config := configs.get(connection.id)) is not None and config.paused
                else None
            ),
        })
    return result
