"""Roster files: parse and validate a CSV or YAML roster before anything is written.

The whole file is checked first and every bad row is reported with its line number as the user
sees it; nothing is applied from a file with a problem. Blank cells mean "not managed by the
file": the user's current value stays (a decision on an undocumented point; only email,
first_name and last_name are required).
"""


from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr

from thresher._errors import ThresherError
from thresher.harvest import (
    AccessRoleError,
    UnknownTimezoneError,
    hours_to_seconds,
    normalize_email,
    normalize_timezone,
    validate_access_roles,
)
from thresher.store import Store

__all__ = ["COLUMNS", "RosterError", "RosterRow", "load_roster"]

COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "access_roles",
    "roles",
    "weekly_capacity_hours",
    "timezone",
    "is_contractor",
    "manager_email",
    "billable_rate",
    "cost_rate",
    "active",
)
_EMAIL = TypeAdapter(EmailStr)
# The common ASCII case is checked by pattern (email-validator costs ~0.3 ms a row, most of a
# 10,000-row plan); anything else goes through pydantic's EmailStr, as the request models do.
_ASCII_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


class RosterError(ThresherError):
    """The roster file has problems; ``problems`` lists them as ``(line, message)``."""

    exit_code = 2

    def __init__(self, problems: list[tuple[int, str]], path: str) -> None:
        self.problems = problems
        first = "; ".join(f"line {line}: {msg}" for line, msg in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(
            f"{path} has {len(problems)} bad row(s), so nothing was applied: {first}{more}",
            hint="Fix the rows listed and run the command again.",
        )


@dataclasses.dataclass(frozen=True)
class RosterRow:
    """One validated row; ``None`` fields are not managed by the file."""

    line: int
    email: str
    first_name: str
    last_name: str
    access_roles: tuple[str, ...] | None = None
    roles: tuple[str, ...] | None = None
    weekly_capacity: int | None = None
    timezone: str | None = None
    is_contractor: bool | None = None
    manager_email: str | None = None
    billable_rate: Decimal | None = None
    cost_rate: Decimal | None = None
    active: bool = True

    @property
    def key(self) -> str:
        return normalize_email(self.email)


def _split(value: str) -> tuple[str, ...]:
    for sep in (";", "|"):
        value = value.replace(sep, ",")
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _bool(value: str, name: str) -> bool:
    low = value.casefold()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _money(value: str, name: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return amount


def _row(line: int, raw: Mapping[str, Any]) -> RosterRow:
    cells = {str(k).strip().casefold(): _text(v) for k, v in raw.items() if k is not None}
    unknown = sorted(set(cells) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}")
    email = cells.get("email", "")
    if not email:
        raise ValueError("email is required")
    if not (email.isascii() and _ASCII_EMAIL.fullmatch(email)):
        try:
            email = str(_EMAIL.validate_python(email))
        except ValidationError:
            raise ValueError(f"{email!r} is not a valid email address") from None
    first, last = cells.get("first_name", ""), cells.get("last_name", "")
    if not first or not last:
        raise ValueError("first_name and last_name are required")
    values: dict[str, Any] = {"line": line, "email": email, "first_name": first, "last_name": last}
    if cells.get("access_roles"):
        try:
            values["access_roles"] = tuple(validate_access_roles(_split(cells["access_roles"])))
        except AccessRoleError as exc:
            raise ValueError(f"invalid access_roles: {exc}") from None
    if cells.get("roles"):
        values["roles"] = _split(cells["roles"])
    if cells.get("weekly_capacity_hours"):
        try:
            values["weekly_capacity"] = hours_to_seconds(cells["weekly_capacity_hours"])
        except ValueError as exc:
            raise ValueError(f"weekly_capacity_hours: {exc}") from None
    if cells.get("timezone"):
        try:
            values["timezone"] = normalize_timezone(cells["timezone"])
        except (UnknownTimezoneError, ValueError):
            raise ValueError(f"unknown timezone {cells['timezone']!r}") from None
    if cells.get("is_contractor"):
        values["is_contractor"] = _bool(cells["is_contractor"], "is_contractor")
    if cells.get("manager_email"):
        values["manager_email"] = cells["manager_email"]
    for name in ("billable_rate", "cost_rate"):
        if cells.get(name):
            values[name] = _money(cells[name], name)
    if cells.get("active"):
        values["active"] = _bool(cells["active"], "active")
    return RosterRow(**values)


def _read(path: Path, text: str) -> list[tuple[int, Mapping[str, Any]]]:
    if path.suffix.casefold() in (".yaml", ".yml"):
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is None:
            return []
        items = node.value if isinstance(node, yaml.SequenceNode) else None
        if items is None and isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == "users" and isinstance(value, yaml.SequenceNode):
                    items = value.value
        if items is None:
            raise RosterError([(1, "expected a list of users (or a 'users:' list)")], str(path))
        rows: list[tuple[int, Mapping[str, Any]]] = []
        for item in items:
            data = yaml.SafeLoader(yaml.serialize(item)).get_single_data()
            line = item.start_mark.line + 1
            rows.append((line, data if isinstance(data, dict) else {"?": data}))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    out: list[tuple[int, Mapping[str, Any]]] = []
    for raw in reader:
        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue
        out.append((reader.line_num, raw))
    return out


def load_roster(
    path: Path, store: Store | None = None, connection_id: int | None = None
) -> list[RosterRow]:
    """Parse and validate the whole file; any problem raises ``RosterError`` listing every bad
    row by line number. Managers must be in the file or in the mirror (``store``)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ThresherError(f"cannot read {path}: {exc.strerror}") from None
    try:
        raw_rows = _read(path, text)
    except yaml.YAMLError as exc:
        raise RosterError([(getattr(getattr(exc, "problem_mark", None), "line", 0) + 1,
                            f"not valid YAML: {exc}")], str(path)) from None
    problems: list[tuple[int, str]] = []
    rows: list[RosterRow] = []
    seen: dict[str, int] = {}
    for line, raw in raw_rows:
        try:
            row = _row(line, raw)
        except ValueError as exc:
            problems.append((line, str(exc)))
            continue
        if row.key in seen:
            problems.append((line, f"duplicate email {row.email} (first on line {seen[row.key]})"))
            continue
        seen[row.key] = line
        rows.append(row)
    by_key = {r.key: r for r in rows}
    for row in rows:
        if row.manager_email is None:
            continue
        if normalize_email(row.manager_email) == row.key:
            problems.append((row.line, "a user cannot be their own manager"))
            continue
        manager_row = by_key.get(normalize_email(row.manager_email))
        stored = (
            store.find_user_by_email(connection_id, row.manager_email)
            if store is not None and connection_id is not None
            else None
        )
        if manager_row is None and stored is None:
            problems.append((row.line, f"unknown manager {row.manager_email}"))
            continue
        if manager_row is not None and manager_row.access_roles is not None:
            roles: Sequence[str] = manager_row.access_roles
        elif stored is not None:
            roles = stored.access_roles
        else:
            roles = ("member",)  # Harvest's default for a create without access_roles
        if "manager" not in roles:
            problems.append((row.line, f"manager_email {row.manager_email} is not a manager"))
    if problems:
        raise RosterError(sorted(problems), str(path))
    return rows


