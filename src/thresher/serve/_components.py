"""What ``serve`` hosts: a registry of components, each an optional ASGI mount, an optional
background task, an optional lifespan and an optional health check (``/readyz``).

The SCIM bridge, the MCP server (``_mcp.py``), the scheduler, the change feed and the usage
counters are components built by ``_app.py``. A part that plugs in later is found here by name,
so it is not imported unless it exists in the installed thresher:

- ``thresher.webhooks.run_dispatcher(store, stop=..., settings=...)``: the webhook dispatcher, run
  as a background task until ``stop`` is set; its deliveries count in
  ``Metrics.webhook_deliveries``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from thresher.store import Store

from ._metrics import Metrics

__all__ = ["Component", "Health", "discover"]

log = logging.getLogger("thresher.serve")

#: ``(ok, detail)`` of one check of ``/readyz``.
Health = tuple[bool, str]


@dataclasses.dataclass
class Component:
    name: str
    #: Path prefix and app, mounted under the service (e.g. ``("/scim", bridge_app)``).
    mount: tuple[str, ASGIApp] | None = None
    #: A route of its own (an exact path, where a prefix mount would change the path it sees).
    route: BaseRoute | None = None
    #: Background work: runs until the event is set, then should return within the shutdown timeout.
    task: Callable[[asyncio.Event], Awaitable[None]] | None = None
    #: Entered at start, left at shutdown (Starlette gives mounted apps no lifespan of their own).
    lifespan: Callable[[], AbstractAsyncContextManager[None]] | None = None
    #: Contribution to ``/readyz``.
    health: Callable[[], Awaitable[Health]] | None = None


def _optional(module: str, name: str) -> Any:
    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    return getattr(found, name, None)


def discover(store: Store, metrics: Metrics) -> list[Component]:
    """Components of the parts that are installed (see the module's docstring)."""
    found: list[Component] = []
    run_dispatcher = _optional("thresher.webhooks", "run_dispatcher")
    if callable(run_dispatcher):
        wants_metrics = "metrics" in inspect.signature(run_dispatcher).parameters

        async def dispatch(stop: asyncio.Event) -> None:
            extra = {"metrics": metrics} if wants_metrics else {}
            await run_dispatcher(store, stop=stop, **extra)

        found.append(Component("webhooks", task=dispatch))
    return found
