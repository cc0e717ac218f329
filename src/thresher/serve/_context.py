"""What the routes (``_api``, ``_dashboard``, ``_oauth``) may use of the service: a protocol, so
they need not import ``_app`` (which imports them)."""

from __future__ import annotations

import asyncio
from typing import Protocol

import httpx

from thresher.store import ServeRecords, Store

from ._auth import AdminAuth
from ._components import Component
from ._feed import EventTail
from ._metrics import Metrics
from ._scheduler import Scheduler
from ._settings import ServeSettings

__all__ = ["ServiceContext"]


class ServiceContext(Protocol):
    settings: ServeSettings
    store: Store
    records: ServeRecords
    metrics: Metrics
    auth: AdminAuth
    scheduler: Scheduler
    feed: EventTail
    stop: asyncio.Event
    components: list[Component]
    scim_connection: str | None
    oauth_transport: httpx.AsyncBaseTransport | None
