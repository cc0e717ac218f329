"""Roster files: parse and validate a CSV or YAML roster before anything is written.

The whole file is checked first and every bad row is reported with its line number as the user
sees it; nothing is applied from a file with a problem. Blank cells mean "not managed by the
file": the user's current value stays (a decision on an undocumented point; only email,
first_name and last_name are required).

Files come as spreadsheets save them. The encoding is decided once for the whole file by a small
explicit rule (``_decode``): a byte-order mark says UTF-8 or UTF-16; otherwise UTF-8 if the bytes
are valid UTF-8, else Windows-1252 (what Excel on Windows writes, a superset of Latin-1's
printable range). The CSV delimiter (``,`` ``;`` or tab) is sniffed from the header line alone.
A file over ``MAX_FILE_BYTES``, a cell over ``MAX_CELL_CHARS`` and a binary file are refused
with the line they occur on.
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

__all__ = [
    "COLUMNS", "MAX_CELL_CHARS", "MAX_FILE_BYTES", "RosterError", "RosterRow", "email_key", "load_roster",
]

#: Larger files are refused (a roster of 100,000 people is about 10 MB).
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Longer cells are refused: no Harvest field comes near it.
MAX_CELL_CHARS = 1000

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


def email_key(email: str) -> str:
    """How emails compare everywhere in provisioning: Harvest's own rule (``normalize_email``,
    plain lower-casing, docs/harvest-api.md §8.2), so straße@ and strasse@ stay two people."""
    return normalize_email(email)


class RosterError(ThresherError):
    """The roster file has problems; ``problems`` lists them as ``(line, message)``."""

    exit_code = 2

    def __init__(
        self, problems: list[tuple[int, str]], path: str, *, whole_file: bool = False
    ) -> None:
        self.problems = problems
        first = "; ".join(f"line {line}: {msg}" for line, msg in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        what = "cannot be read as a roster" if whole_file else f"has {len(problems)} bad row(s)"
        super().__init__(
            f"{path} {what}, so nothing was applied: {first}{more}",
            hint="Fix the file (save it as CSV, YAML or TSV text) and run the command again."
            if whole_file else "Fix the rows listed and run the command again.",
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
        return email_key(self.email)


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
    for name, value in cells.items():
        if len(value) > MAX_CELL_CHARS:
            raise ValueError(
                f"the {name[:40]} cell is {len(value):,} characters, over the "
                f"{MAX_CELL_CHARS:,} character limit"
            )
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


_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook"),
    (b"%PDF", "a PDF document"),
)


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(path: Path) -> str:
    """The file's text, by one rule for the whole file (see the module docstring)."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ThresherError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise RosterError(
            [(_line_at(data, MAX_FILE_BYTES), f"the file passes the {MAX_FILE_BYTES // 2**20} MB "
              "limit on this line (a roster of 100,000 people is about 10 MB)")],
            str(path), whole_file=True,
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise RosterError([(_line_at(data, exc.start), "not valid UTF-16 text")],
                              str(path), whole_file=True) from None
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise RosterError([(1, f"this is {what}, not a text file")], str(path), whole_file=True)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise RosterError(
            [(_line_at(data, nul), "binary content (a NUL byte), not a CSV or YAML text file")],
            str(path), whole_file=True,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Five bytes are undefined in Windows-1252; Latin-1 reads them as the C1 controls they were.
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _delimiter(text: str) -> str:
    """``,`` ``;`` or tab, sniffed from the header line alone (data cells may hold any of them)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


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
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text))
    out: list[tuple[int, Mapping[str, Any]]] = []
    try:
        for raw in reader:
            if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
                continue
            out.append((reader.line_num, raw))
    except csv.Error as exc:
        # The csv module's own cap (131,072 characters) is far above MAX_CELL_CHARS.
        message = (
            f"a cell is over the {MAX_CELL_CHARS:,} character limit" if "field larger" in str(exc)
            else f"not valid CSV: {exc}"
        )
        # DictReader.line_num is only updated after a row parses; the inner reader's is current.
        raise RosterError([(reader.reader.line_num, message)], str(path), whole_file=True) from None
    return out


def load_roster(
    path: Path, store: Store | None = None, connection_id: int | None = None
) -> list[RosterRow]:
    """Parse and validate the whole file; any problem raises ``RosterError`` listing every bad
    row by line number. Managers must be in the file or in the mirror (``store``)."""
    text = _decode(path)
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
        if email_key(row.manager_email) == row.key:
            problems.append((row.line, "a user cannot be their own manager"))
            continue
        manager_row = by_key.get(email_key(row.manager_email))
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


