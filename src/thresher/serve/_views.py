"""The data behind each dashboard page, read from the store (plain dicts for the templates)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from thresher.store import ServeRecords, Store

__all__ = ["headcount_svg", "roster_view", "sparkline", "usage_view"]


def _points(values: list[float], width: int, height: int, top: float | None = None) -> str:
    if not values:
        return ""
    high = top if top is not None else max(values)
    low = 0.0
    span = (high - low) or 1.0
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - (v - low) / span * (height - 4) - 2:.1f}" for i, v in enumerate(values)
    )


def sparkline(values: list[float], *, width: int = 240, height: int = 40, top: float | None = None) -> str:
    return _points(values, width, height, top)


def headcount_svg(store: Store, connection_id: int, *, days: int = 30) -> dict[str, Any]:
    """Active users at the end of each of the last ``days`` days, rebuilt backwards from today's
    count and the change log (created, archived, restored, deleted)."""
    today = dt.datetime.now(dt.UTC).date()
    start = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), dt.UTC)
    delta: Counter[dt.date] = Counter()
    for e in store.list_events(connection_id, since=start, resource="user"):
        day = e.observed_at.astimezone(dt.UTC).date()
        active = e.changes.get("is_active") or {}
        if e.kind == "restored" or (e.kind == "created" and active.get("after", True)):
            delta[day] += 1
        elif e.kind == "archived" or (e.kind == "deleted" and active.get("before", True)):
            delta[day] -= 1
    count = store.count_users(connection_id, active=True)
    series: list[tuple[dt.date, int]] = []
    for i in range(days):
        day = today - dt.timedelta(days=i)
        series.append((day, count))
        count -= delta[day]
    series.reverse()
    values = [float(v) for _, v in series]
    return {
        "points": _points(values, 600, 160, max([*values, 1.0]) * 1.1),
        "first": series[0][0].isoformat(),
        "last": series[-1][0].isoformat(),
        "low": int(min(values)),
        "high": int(max(values)),
        "now": int(values[-1]),
    }


def roster_view(store: Store) -> list[dict[str, Any]]:
    result = []
    for c in store.list_connections():
        users = store.list_users(c.id, include_deleted=True)
        status: Counter[str] = Counter()
        roles: Counter[str] = Counter()
        for u in users:
            if u.deleted_at is not None:
                status["deleted"] += 1
            elif u.is_active:
                status["active"] += 1
                for role in u.access_roles:
                    roles[role] += 1
            else:
                status["archived"] += 1
        result.append({
            "name": c.name,
            "status": dict(status),
            "roles": roles.most_common(),
            "chart": headcount_svg(store, c.id),
        })
    return result


def usage_view(records: ServeRecords, store: Store, *, days: int = 14) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    since = (now - dt.timedelta(days=days - 1)).strftime("%Y-%m-%d")
    counts = records.usage(since_day=since)
    tables: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    statuses: dict[str, set[int]] = defaultdict(set)
    for (day, channel, subject, status), n in counts.items():
        tables[channel][f"{day} · {subject}"][status] = n
        statuses[channel].add(status)
    channels = {}
    for channel, rows in tables.items():
        cols = sorted(statuses[channel])
        channels[channel] = {
            "statuses": cols,
            "rows": [
                {"label": label, "counts": [per.get(s, 0) for s in cols], "total": sum(per.values())}
                for label, per in sorted(rows.items(), reverse=True)
            ],
        }
    names = {c.id: c.name for c in store.list_connections()}
    samples: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for connection_id, _, free, limit in records.headroom(since=now - dt.timedelta(hours=1)):
        samples[names.get(connection_id, str(connection_id))].append((free, limit))
    headroom = [
        {
            "name": name,
            "last": s[-1][0],
            "min": min(h for h, _ in s),
            "limit": s[-1][1],
            "points": sparkline([float(h) for h, _ in s], top=float(s[-1][1])),
        }
        for name, s in sorted(samples.items())
    ]
    return {"channels": channels, "headroom": headroom, "days": days}
