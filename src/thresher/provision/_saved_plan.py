"""Saved plans: ``plan -o plan.json`` writes one, ``apply plan.json`` carries it out unchanged,
and only while the product (Harvest, or Greenhouse Recruiting) still matches what it was
computed against.

The file holds the changes exactly as planned, and the basis they were planned on: every
affected user's ``updated_at`` and field values, the emails that were free (creates), role
member lists and managers' teammate lists. Before applying, the caller syncs the mirror; any
difference between the basis and the fresh mirror refuses the whole plan (``PlanStaleError``
lists what moved), as terraform does with a stale plan.

What a product's basis holds is a ``PlanBasis``: Harvest's (``HARVEST_BASIS``, here) and
Greenhouse's (``GREENHOUSE_BASIS``, with its roster in ``_greenhouse_roster``) differ only in the
user fields compared and the actions that touch a user, so both go through the same save, load
and check. A Harvest plan's file carries no ``provider`` key (files saved before Greenhouse
existed read the same); any other product's names it, and a plan is only applied on a connection
of its own product.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from thresher._errors import ThresherError
from thresher.store import Store, StoredConnection, StoredUser, greenhouse_fields

from ._greenhouse_roster import GREENHOUSE_MANAGED_EXTRA
from ._ops import ProvisionError
from ._roster import Change, Plan, membership_diff

__all__ = [
    "GREENHOUSE_BASIS",
    "HARVEST_BASIS",
    "PLAN_FORMAT",
    "PlanBasis",
    "PlanStaleError",
    "SavedPlan",
    "check_saved_plan",
    "load_saved_plan",
    "plan_basis",
    "save_plan",
]

PLAN_FORMAT = "thresher-plan/1"
#: The user fields a roster plans against (those a change would read or write).
_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "is_active",
    "access_roles",
    "weekly_capacity",
    "timezone",
    "is_contractor",
    "default_hourly_rate",
    "cost_rate",
)
_USER_ACTIONS = ("update", "restore", "rate", "archive")

#: ``extra(store, connection_id)``: per user id, fields a product keeps outside ``users``.
ExtraFields = Callable[[Store, int], Mapping[int, Mapping[str, Any]]]


@dataclasses.dataclass(frozen=True)
class PlanBasis:
    """What a saved plan of one product records and compares: the ``connections.provider`` it
    belongs to, the product's name for messages, the mirror's user ``fields`` a change reads or
    writes, the ``user_actions`` whose user is recorded, and ``extra_fields`` read through
    ``read_extra`` (a product's own table)."""

    provider: str
    product: str
    fields: tuple[str, ...]
    user_actions: tuple[str, ...]
    extra_fields: tuple[str, ...] = ()
    read_extra: ExtraFields | None = None


HARVEST_BASIS = PlanBasis("harvest", "Harvest", _FIELDS, _USER_ACTIONS)
#: Greenhouse's roster (``_greenhouse_roster``): the shared mirror fields it plans against, and
#: its own ``employee_id`` and ``job_title`` from ``greenhouse_users``.
GREENHOUSE_BASIS = PlanBasis(
    "greenhouse",
    "Greenhouse",
    ("email", "first_name", "last_name", "is_active"),
    ("activate", "update", "deactivate"),
    extra_fields=GREENHOUSE_MANAGED_EXTRA,
    read_extra=greenhouse_fields,
)


class PlanStaleError(ProvisionError):
    """The product changed since the saved plan was made; ``moved`` lists what."""

    def __init__(self, moved: list[str], path: str, *, product: str = "Harvest") -> None:
        self.moved = moved
        listed = "; ".join(moved[:5]) + (f" (and {len(moved) - 5} more)" if len(moved) > 5 else "")
        super().__init__(
            f"{path} no longer matches {product}, so nothing was applied: {listed}",
            hint="Make a new plan from the roster file (thresher plan FILE -o PLAN.json).",
        )


@dataclasses.dataclass
class SavedPlan:
    plan: Plan
    connection: str
    account_id: int
    created_at: str
    source: str | None
    basis: dict[str, Any]
    #: ``connections.provider`` of the connection it was planned on.
    provider: str = "harvest"


# -- values --------------------------------------------------------------------------------


def _enc(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, frozenset | set):
        return {"set": sorted(str(v) for v in value)}
    if isinstance(value, tuple | list):
        return [_enc(v) for v in value]
    if isinstance(value, dict):
        return {k: _enc(v) for k, v in value.items()}
    return value


def _dec(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"decimal"}:
            return Decimal(value["decimal"])
        if set(value) == {"set"}:
            return frozenset(value["set"])
        return {k: _dec(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value


def _user_basis(
    user: StoredUser, kind: PlanBasis = HARVEST_BASIS, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    fields = {name: getattr(user, name) for name in kind.fields}
    if "access_roles" in fields:
        fields["access_roles"] = sorted(fields["access_roles"])
    fields.update({name: (extra or {}).get(name) for name in kind.extra_fields})
    return {"updated_at": user.updated_at.isoformat(), "fields": _enc(fields)}


def _extra(store: Store, connection_id: int, kind: PlanBasis) -> Mapping[int, Mapping[str, Any]]:
    return kind.read_extra(store, connection_id) if kind.read_extra is not None else {}


def _basis_of(provider: str) -> PlanBasis:
    for kind in (HARVEST_BASIS, GREENHOUSE_BASIS):
        if kind.provider == provider:
            return kind
    raise ProvisionError(f"saved plans do not exist for {provider} connections")


# -- save and load -------------------------------------------------------------------------


def _basis(store: Store, connection_id: int, plan: Plan, kind: PlanBasis = HARVEST_BASIS) -> dict[str, Any]:
    users: dict[str, Any] = {}
    roles: dict[str, list[int]] = {}
    teammates: dict[str, list[int]] = {}
    stored_roles = {r.harvest_id: r for r in store.list_roles(connection_id)}
    extra = _extra(store, connection_id, kind)
    for change in plan.changes:
        uid = change.user_id
        if change.action in kind.user_actions and uid is not None:
            user = store.get_user(connection_id, uid)
            if user is not None:
                users[str(uid)] = _user_basis(user, kind, extra.get(uid))
        elif change.action == "teammates" and uid is not None:
            teammates[str(uid)] = sorted(store.get_teammates(connection_id, uid))
        elif change.action == "role" and uid is not None and uid in stored_roles:
            roles[str(uid)] = sorted(stored_roles[uid].user_ids)
    return {
        "users": users,
        "free_emails": sorted(c.email for c in plan.changes if c.action == "create"),
        "roles": roles,
        "new_roles": sorted(c.email for c in plan.changes if c.action == "role" and c.user_id is None),
        "teammates": teammates,
    }


def plan_basis(
    store: Store, connection_id: int, plan: Plan, *, kind: PlanBasis = HARVEST_BASIS
) -> dict[str, Any]:
    """What ``plan`` is computed against, read from ``store`` now: the ``basis`` of a
    :class:`SavedPlan` kept in memory rather than in a file (the MCP server's plans)."""
    return _basis(store, connection_id, plan, kind)


def save_plan(
    path: Path, plan: Plan, store: Store, connection: StoredConnection, *, source: str | None
) -> None:
    """Write ``plan`` with the basis it was computed on (read from ``store`` now), for the
    product of ``connection``."""
    kind = _basis_of(connection.provider)
    data: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "connection": connection.name,
        "account_id": connection.account_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "source": source,
        "changes": [
            {
                "action": c.action,
                "target": c.email,
                "user_id": c.user_id,
                "diffs": {k: [_enc(a), _enc(b)] for k, (a, b) in c.diffs.items()},
                "body": _enc(c.body),
            }
            for c in plan.changes
        ],
        "warnings": plan.warnings,
        "basis": _basis(store, connection.id, plan, kind),
    }
    if kind is not HARVEST_BASIS:
        data = {"format": PLAN_FORMAT, "provider": kind.provider, **data}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_saved_plan(path: Path) -> SavedPlan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThresherError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ProvisionError(f"{path} is not a saved plan: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise ProvisionError(
            f"{path} is not a saved plan ({PLAN_FORMAT})",
            hint="Save one with 'thresher plan FILE -o PLAN.json'; roster files are CSV or YAML.",
        )
    try:
        changes = [
            Change(
                c["action"],
                c["target"],
                {k: (_dec(a), _dec(b)) for k, (a, b) in c["diffs"].items()},
                c["user_id"],
                _dec(c["body"]),
            )
            for c in data["changes"]
        ]
        return SavedPlan(
            Plan(changes, list(data.get("warnings", []))),
            str(data["connection"]),
            int(data["account_id"]),
            str(data["created_at"]),
            data.get("source"),
            data["basis"],
            str(data.get("provider", HARVEST_BASIS.provider)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProvisionError(f"{path} is a damaged saved plan ({exc!r})") from None


# -- the check -----------------------------------------------------------------------------


def _ids(store: Store, connection_id: int, ids: list[int]) -> list[str]:
    names = []
    for uid in ids:
        user = store.get_user(connection_id, uid)
        names.append(user.email if user is not None else f"#{uid}")
    return names


def check_saved_plan(store: Store, connection: StoredConnection, saved: SavedPlan, path: str) -> None:
    """Refuse (``PlanStaleError``) unless the mirror, freshly synced by the caller, still holds
    everything the plan was computed against."""
    kind = _basis_of(saved.provider)
    if connection.provider != kind.provider:
        products = {"harvest": "Harvest", "greenhouse": "Greenhouse"}
        other = products.get(connection.provider, connection.provider)
        raise ProvisionError(
            f"{path} was planned on a {kind.product} connection ({saved.connection}); "
            f"{connection.name} is a {other} connection",
            hint=f"Apply it with --connection {saved.connection}.",
        )
    if kind is HARVEST_BASIS and saved.account_id != connection.account_id:
        raise ProvisionError(
            f"{path} was planned for account {saved.account_id} ({saved.connection}), not for "
            f"account {connection.account_id} ({connection.name})",
            hint=f"Apply it with --connection {saved.connection}.",
        )
    if kind is not HARVEST_BASIS and saved.connection != connection.name:
        # Greenhouse's API names no account: the connection the plan was made on is the only
        # sure sign that user ids mean the same people.
        raise ProvisionError(
            f"{path} was planned on the connection {saved.connection}, not on {connection.name}",
            hint=f"Apply it with --connection {saved.connection}.",
        )
    product = kind.product
    cid = connection.id
    basis = saved.basis
    moved: list[str] = []
    extra = _extra(store, cid, kind) if basis.get("users") else {}
    for uid, then in basis.get("users", {}).items():
        now = store.get_user(cid, int(uid))
        was = _dec(then["fields"])
        if now is None or now.deleted_at is not None:
            moved.append(f"{was.get('email', '#' + uid)}: deleted in {product} since the plan")
            continue
        current = _dec(_user_basis(now, kind, extra.get(int(uid)))["fields"])
        diffs = [f"{k} {was.get(k)!r} -> {current[k]!r}" for k in current if was.get(k) != current[k]]
        if diffs:
            moved.append(f"{was.get('email')}: {', '.join(diffs)}")
    for email in basis.get("free_emails", []):
        found = store.find_user_by_email(cid, email)
        if found is not None:
            moved.append(f"{email}: created in {product} since the plan (id {found.harvest_id})")
    roles = {r.harvest_id: r for r in store.list_roles(cid)}
    for rid, members in basis.get("roles", {}).items():
        role = roles.get(int(rid))
        if role is None:
            moved.append(f"role #{rid}: deleted in Harvest since the plan")
        elif sorted(role.user_ids) != members:
            added, removed = membership_diff(members, role.user_ids)
            who = [f"+{e}" for e in _ids(store, cid, [int(a) for a in added])]
            who += [f"-{e}" for e in _ids(store, cid, [int(r) for r in removed])]
            moved.append(f"role {role.name}: members changed since the plan ({' '.join(who)})")
    names = {r.name.casefold() for r in roles.values()}
    for name in basis.get("new_roles", []):
        if name.casefold() in names:
            moved.append(f"role {name}: created in Harvest since the plan")
    for mid, ids in basis.get("teammates", {}).items():
        if sorted(store.get_teammates(cid, int(mid))) != ids:
            moved.append(f"{_ids(store, cid, [int(mid)])[0]}: teammates changed since the plan")
    if moved:
        raise PlanStaleError(moved, path, product=product)
