"""Cursor pages (docs/greenhouse.md §3): the first request carries the filters and
``per_page``; then follow ``Link: <...?cursor=...>; rel="next"`` exactly, until it is absent.

A cursor request must carry only ``cursor`` (extra parameters are a 422), which following the
link as given guarantees. Bodies are bare arrays without totals. A repeated cursor, or a next
link to another origin (the bearer token would go there), stops the listing with
``PaginationError`` instead of looping or leaking.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Generic, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from ._errors import PaginationError, UnexpectedResponseError

__all__ = ["Page", "iterate_pages"]

T = TypeVar("T", bound=BaseModel)
Fetch = Callable[[str, Mapping[str, str] | None], Awaitable[httpx.Response]]


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    """One page; save ``next_url`` and pass it back as ``start_url`` to resume there."""

    items: list[T]
    url: str
    next_url: str | None

    def __len__(self) -> int:
        return len(self.items)


def _cursor(url: str) -> str:
    parsed = httpx.URL(url)
    return parsed.params.get("cursor") or str(parsed)


async def iterate_pages(
    fetch: Fetch,
    url: str,
    params: Mapping[str, str] | None,
    model: type[T],
    *,
    check_next: Callable[[str], str],
) -> AsyncIterator[Page[T]]:
    seen: set[str] = set()
    next_url: str | None = url
    query = params
    while next_url is not None:
        response = await fetch(next_url, query)
        fetched = str(response.request.url)
        seen.add(_cursor(fetched))
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, list):
            raise UnexpectedResponseError(
                f"GET {response.request.url.path} answered without a JSON array",
                method="GET",
                url=str(response.request.url.copy_with(query=None)),
                status_code=response.status_code,
            )
        try:
            items = [model.model_validate(item) for item in data]
        except ValidationError as exc:
            raise UnexpectedResponseError(
                f"GET {response.request.url.path} returned records the client cannot read: "
                f"{exc.errors()[0]['msg']}",
                method="GET",
                status_code=response.status_code,
            ) from exc
        link = response.links.get("next", {}).get("url")
        following = check_next(link) if link else None
        if following is not None and _cursor(following) in seen:
            raise PaginationError(
                f"GET {response.request.url.path}: the next link repeats a cursor already "
                "fetched; stopping instead of looping",
                hint="Greenhouse's pagination returned a cycle; retry the listing later.",
                method="GET",
            )
        next_url, query = following, None
        yield Page(items, fetched, following)
