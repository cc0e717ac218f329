"""Paginated lists (§3): follow ``links.next`` exactly, stop on null, refuse a repeated cursor.

The same loop serves cursor mode (``?cursor=...&ref=next_cursor``, ``page`` null in middle pages)
and plain page mode (``/v2/projects/{id}/user_assignments``, ``/v2/users/me/project_assignments``),
because both answer with ``links``. Only one page is alive at a time: a 100,000-user account is
read in 50 pages of 2,000, never held whole.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from ._errors import PaginationError, UnexpectedResponseError
from ._models import PageLinks
from ._redact import redact_url

__all__ = ["Page", "cursor_key", "iterate_pages"]

T = TypeVar("T", bound=BaseModel)

Fetch = Callable[[str, Mapping[str, str] | None], Awaitable[httpx.Response]]


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list endpoint.

    ``url`` is the URL this page was fetched from and ``next_url`` Harvest's ``links.next`` (None on
    the last page): store ``next_url`` after processing a page and pass it back as ``start_url`` to
    resume exactly there.
    """

    items: list[T]
    next_url: str | None
    url: str
    total_entries: int | None = None
    per_page: int | None = None
    #: Null on middle pages in cursor mode (§3).
    page: int | None = None
    total_pages: int | None = None
    links: PageLinks = dataclasses.field(default_factory=PageLinks)
    #: The server's clock when it answered (HTTP ``Date``), for windows that must not depend on
    #: the local clock, such as the sync's ``updated_since`` high-water mark.
    server_date: dt.datetime | None = None

    def __len__(self) -> int:
        return len(self.items)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse(data: Any, key: str, model: type[T], url: str) -> Page[T]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise UnexpectedResponseError(
            f"GET {httpx.URL(url).path} answered without a {key!r} list",
            method="GET", url=url,
        )
    try:
        items = [model.model_validate(item) for item in data[key]]
        links = PageLinks.model_validate(data.get("links") or {})
    except ValidationError as exc:
        raise UnexpectedResponseError(
            f"GET {httpx.URL(url).path} returned {key} the client cannot read: "
            f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}",
            method="GET", url=url,
        ) from exc
    if "links" not in data and data.get("next_page") is not None:
        # Every documented list answer carries links (§3); building URLs ourselves from
        # next_page is what Harvest tells clients not to do, so say so instead of truncating.
        raise PaginationError(
            f"GET {httpx.URL(url).path} says there is a next page but gives no links.next",
            method="GET", url=url,
        )
    return Page(
        items=items,
        next_url=links.next,
        url=url,
        total_entries=_int_or_none(data.get("total_entries")),
        per_page=_int_or_none(data.get("per_page")),
        page=_int_or_none(data.get("page")),
        total_pages=_int_or_none(data.get("total_pages")),
        links=links,
    )


def _server_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def cursor_key(url: str) -> str:
    """What identifies a page: its cursor when it has one (the opaque part that repeats when the
    server loops), else the whole URL with the query sorted."""
    parsed = httpx.URL(url)
    cursor = parsed.params.get("cursor")
    if cursor:
        return f"cursor:{parsed.path}:{cursor}"
    return str(parsed.copy_with(params=httpx.QueryParams(sorted(parsed.params.multi_items()))))


async def iterate_pages(
    fetch: Fetch,
    url: str,
    params: Mapping[str, str] | None,
    key: str,
    model: type[T],
    *,
    check_next: Callable[[str], str],
) -> AsyncIterator[Page[T]]:
    """Yield each page of a list, following ``links.next``.

    ``check_next`` vets a next URL (it must stay on the API's origin, or the bearer token would go
    elsewhere) and may rewrite a relative one into an absolute one. Raises ``PaginationError``
    before yielding a page whose ``links.next`` repeats a URL or cursor already fetched, so a
    consumer that saves ``next_url`` never saves a loop.
    """
    seen: set[str] = set()
    next_url: str | None = url
    query = params
    while next_url is not None:
        response = await fetch(next_url, query)
        fetched = str(response.request.url)
        seen.add(cursor_key(fetched))
        try:
            # orjson: a 2,000-user page parses in a third of the stdlib's time, and the sync
            # parses the next page while the store commits the last one (bench/sync.py).
            data = orjson.loads(response.content)
        except ValueError as exc:
            raise UnexpectedResponseError(
                f"GET {httpx.URL(fetched).path} answered {response.status_code} without JSON",
                method="GET", url=fetched, status_code=response.status_code,
            ) from exc
        page = _parse(data, key, model, fetched)
        page = dataclasses.replace(page, server_date=_server_date(response.headers.get("date")))
        del data
        del response  # keep at most one page's worth of data alive
        if page.next_url is not None:
            page = dataclasses.replace(page, next_url=check_next(page.next_url))
            assert page.next_url is not None
            if cursor_key(page.next_url) in seen:
                raise PaginationError(
                    f"GET {httpx.URL(fetched).path}: links.next repeats a page already fetched "
                    f"({redact_url(page.next_url)}); stopping instead of looping",
                    hint="Harvest's pagination returned a cycle; retry the listing later.",
                    method="GET", url=fetched,
                )
        next_url, query = page.next_url, None
        yield page
        del page
