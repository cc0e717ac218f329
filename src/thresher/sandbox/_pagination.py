"""List envelopes and pagination, docs/harvest-api.md §3.

Two modes, chosen per endpoint as the docs say:

* **Cursor mode** (most lists). ``links.next`` / ``links.previous`` carry an opaque base64 cursor,
  ``{"after":{"id":N}}`` / ``{"before":{"id":N}}`` (rates, sorted by start date, also carry their
  ``start_date``), with ``per_page`` and ``ref=next_cursor`` / ``ref=previous_cursor``; ``first`` is
  ``?page=1&per_page=N&ref=first`` and ``last`` ``?page=<n>&per_page=N&ref=last``. ``page``,
  ``next_page`` and ``previous_page`` are null except on the first and last pages. A cursor wins
  over ``page`` when both are sent.
* **Plain page mode** (``/v2/projects/{id}/user_assignments``, ``/v2/users/me/project_assignments``):
  ``?page=k&per_page=N`` links and page numbers on every page.

Why "after id" and newest first by id: ids grow with creation, so a user created while a client
walks the list lands before the cursor (it is newer than everything listed) and a deleted one
leaves a gap that shifts nothing. A listing therefore never skips a record that existed throughout
and never repeats one, which page-number pagination cannot promise.

Filter parameters (``is_active``, ``updated_since``, ``user_id``) are carried into every link, so
following ``links.next`` keeps the filter.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlencode

import orjson
from starlette.datastructures import QueryParams

from ._config import MAX_PER_PAGE
from ._http import INT32_MAX, unprocessable

__all__ = ["InOrder", "NewestFirst", "Ordered", "PageQuery", "SortedBy", "envelope", "read_page_query"]

_INTEGER = re.compile(r"\s*(-?)0*([0-9]{1,40})\s*")


def _small_int(raw: str) -> int | None:
    """An integer query value, capped: a 30-digit ``page`` reads as "too large" (a 422, §10),
    never as an offset the page arithmetic or the JSON encoder cannot handle."""
    match = _INTEGER.fullmatch(raw)
    if match is None:
        return None
    sign, digits = match.groups()
    value = int(digits) if len(digits) <= 12 else 10**12
    return -value if sign else value


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclasses.dataclass(frozen=True, slots=True)
class PageQuery:
    per_page: int
    page: int | None
    #: ("after" | "before", the cursor's key object)
    cursor: tuple[str, dict[str, Any]] | None
    #: Filter parameters, echoed into every link.
    keep: tuple[tuple[str, str], ...]
    cursors: bool


def encode_cursor(direction: str, key: Mapping[str, Any]) -> str:
    return base64.b64encode(orjson.dumps({direction: key})).decode()


def _decode_cursor(text: str) -> tuple[str, dict[str, Any]]:
    try:
        padded = text.strip() + "=" * (-len(text.strip()) % 4)
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        data = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise unprocessable("Cursor is invalid") from None
    if isinstance(data, dict) and len(data) == 1:
        direction, key = next(iter(data.items()))
        if direction in ("after", "before") and isinstance(key, dict):
            return direction, key
    raise unprocessable("Cursor is invalid")


def read_page_query(params: QueryParams, keep: Sequence[str] = (), *, cursors: bool = True) -> PageQuery:
    """Read ``per_page`` (1..2000, default 2000; else 422, §3), ``page`` and ``cursor``."""
    per_page = MAX_PER_PAGE
    raw = params.get("per_page")
    if raw is not None:
        value = _small_int(raw)
        if value is None or not 1 <= value <= MAX_PER_PAGE:
            raise unprocessable(f"Per page must be between 1 and {MAX_PER_PAGE}")
        per_page = value
    page = None
    raw = params.get("page")
    if raw is not None:
        page = _small_int(raw)
        if page is None or page < 1:
            raise unprocessable("Page must be greater than 0")
        if page > INT32_MAX:
            raise unprocessable(f"Page must be less than or equal to {INT32_MAX}")
    cursor = None
    raw = params.get("cursor")
    if cursors and raw:
        cursor = _decode_cursor(raw)
    kept = tuple((name, params[name]) for name in keep if name in params)
    return PageQuery(per_page, page, cursor, kept, cursors)


class Ordered(Protocol[T_co]):
    """A list in display order that can locate a cursor in O(log n)."""

    def __len__(self) -> int: ...
    def after(self, key: Mapping[str, Any]) -> int: ...
    def before(self, key: Mapping[str, Any]) -> int: ...
    def slice(self, start: int, stop: int) -> Sequence[T_co]: ...
    def cursor_key(self, index: int) -> dict[str, Any]: ...


class NewestFirst:
    """Ids displayed newest first (id descending), over a list of ids sorted ascending."""

    def __init__(self, ascending: Sequence[int]) -> None:
        self._ids = ascending

    def __len__(self) -> int:
        return len(self._ids)

    @staticmethod
    def _id(key: Mapping[str, Any]) -> int:
        value = key.get("id")
        if not isinstance(value, int) or isinstance(value, bool):
            raise unprocessable("Cursor is invalid")
        return value

    def after(self, key: Mapping[str, Any]) -> int:
        return len(self._ids) - bisect.bisect_left(self._ids, self._id(key))

    def before(self, key: Mapping[str, Any]) -> int:
        return len(self._ids) - bisect.bisect_right(self._ids, self._id(key))

    def slice(self, start: int, stop: int) -> list[int]:
        n = len(self._ids)
        return list(reversed(self._ids[n - stop : n - start]))

    def cursor_key(self, index: int) -> dict[str, Any]:
        return {"id": self._ids[len(self._ids) - 1 - index]}


class SortedBy(Generic[T]):
    """Items in a given order (small lists: rates by start date), with the sort key in the cursor."""

    def __init__(
        self,
        items: list[T],
        key: Callable[[T], tuple[Any, ...]],
        to_cursor: Callable[[T], dict[str, Any]],
        from_cursor: Callable[[Mapping[str, Any]], tuple[Any, ...]],
    ) -> None:
        self._items = items
        self._keys = [key(item) for item in items]
        self._to_cursor = to_cursor
        self._from_cursor = from_cursor

    def __len__(self) -> int:
        return len(self._items)

    def _key(self, key: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            return self._from_cursor(key)
        except (KeyError, TypeError, ValueError):
            raise unprocessable("Cursor is invalid") from None

    def after(self, key: Mapping[str, Any]) -> int:
        return bisect.bisect_right(self._keys, self._key(key))

    def before(self, key: Mapping[str, Any]) -> int:
        return bisect.bisect_left(self._keys, self._key(key))

    def slice(self, start: int, stop: int) -> list[T]:
        return self._items[start:stop]

    def cursor_key(self, index: int) -> dict[str, Any]:
        return self._to_cursor(self._items[index])


class InOrder(Generic[T]):
    """Items already in display order, for plain-page lists (no cursor is ever read for them)."""

    def __init__(self, items: Sequence[T]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def after(self, key: Mapping[str, Any]) -> int:
        raise unprocessable("Cursor is invalid")

    def before(self, key: Mapping[str, Any]) -> int:
        raise unprocessable("Cursor is invalid")

    def slice(self, start: int, stop: int) -> Sequence[T]:
        return self._items[start:stop]

    def cursor_key(self, index: int) -> dict[str, Any]:
        raise unprocessable("Cursor is invalid")


def envelope(
    name: str,
    query: PageQuery,
    ordered: Ordered[T],
    render: Callable[[T], bytes],
    *,
    origin: str,
    path: str,
) -> bytes:
    """The whole list answer: ``{name: [...], per_page, total_pages, total_entries, next_page,
    previous_page, page, links}``, with records rendered by ``render`` (JSON bytes each)."""
    n = len(ordered)
    per_page = query.per_page
    total_pages = math.ceil(n / per_page)
    if query.cursor is not None:
        direction, key = query.cursor
        if direction == "after":
            start = ordered.after(key)
            stop = min(n, start + per_page)
        else:
            stop = ordered.before(key)
            start = max(0, stop - per_page)
    else:
        page_number = query.page or 1
        start = min(n, (page_number - 1) * per_page)
        stop = min(n, start + per_page)
    items = ordered.slice(start, stop)
    first, last = start == 0, stop >= n
    url = f"{origin}{path}?"
    keep = list(query.keep)

    def link(*pairs: tuple[str, str | int]) -> str:
        return url + urlencode([*pairs, *keep])

    last_page = max(1, total_pages)
    page: int | None
    if query.cursor is None:
        number = query.page or 1
        page = number
        next_page = number + 1 if number < total_pages else None
        previous_page = number - 1 if number > 1 else None
    else:
        # §3: in cursor mode page numbers are known (and given) only at the two ends.
        page = 1 if first else (last_page if last else None)
        next_page = 2 if first and not last else None
        previous_page = last_page - 1 if last and not first and last_page > 1 else None
    if query.cursors:
        links = {
            "first": link(("page", 1), ("per_page", per_page), ("ref", "first")),
            "next": None if last or not items else link(
                ("cursor", encode_cursor("after", ordered.cursor_key(stop - 1))),
                ("per_page", per_page), ("ref", "next_cursor"),
            ),
            "previous": None if first or not items else link(
                ("cursor", encode_cursor("before", ordered.cursor_key(start))),
                ("per_page", per_page), ("ref", "previous_cursor"),
            ),
            "last": link(("page", last_page), ("per_page", per_page), ("ref", "last")),
        }
    else:
        number = query.page or 1
        links = {
            "first": link(("page", 1), ("per_page", per_page)),
            "next": link(("page", number + 1), ("per_page", per_page)) if number < total_pages else None,
            "previous": link(("page", number - 1), ("per_page", per_page)) if number > 1 else None,
            "last": link(("page", last_page), ("per_page", per_page)),
        }
    meta = orjson.dumps({
        "per_page": per_page,
        "total_pages": total_pages,
        "total_entries": n,
        "next_page": next_page,
        "previous_page": previous_page,
        "page": page,
        "links": links,
    })
    return b"".join((b'{"', name.encode(), b'":[', b",".join(render(i) for i in items), b"],", meta[1:]))
