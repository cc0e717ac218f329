"""A Greenhouse connection saved in a real store, reaching the Greenhouse sandbox in-process.

``GreenhouseSite`` bundles the sandbox (``tests/greenhouse/conftest.py``'s ``Target``), the store
and the saved connection; ``open()`` gives the ``AsyncGreenhouse`` every provider-layer part uses
(``thresher.connections.open_greenhouse``), ``sync()`` runs the Greenhouse sync on it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from thresher.connections import ResolvedGreenhouse, open_greenhouse, save_greenhouse_connection
from thresher.greenhouse import AsyncGreenhouse, GreenhouseSettings
from thresher.store import Store
from thresher.sync import GreenhouseSync, SyncOptions, SyncReport

from .conftest import Target


@dataclasses.dataclass
class GreenhouseSite:
    target: Target
    store: Store
    resolved: ResolvedGreenhouse

    @property
    def name(self) -> str:
        return self.resolved.connection.name

    @property
    def connection_id(self) -> int:
        return self.resolved.connection.id

    def open(self) -> AsyncGreenhouse:
        return open_greenhouse(self.store, self.name, transport=self.target.transport())

    async def sync(self, *, full: bool = False, **options: Any) -> SyncReport:
        connection = self.store.get_connection(self.name)
        async with self.open() as client:
            engine = GreenhouseSync(self.store, client, connection, SyncOptions(**options))
            return await engine.run(full=full)


def settings_for(
    target: Target, credential: str = "full", sub: int | str | None = "admin"
) -> GreenhouseSettings:
    s = target.sandbox
    cred = s.credential(credential)
    named = {"admin": s.state.admin_id, "basic": s.state.basic_id}
    who = named.get(sub, sub) if isinstance(sub, str) else sub
    return GreenhouseSettings(
        client_id=cred.client_id,
        client_secret=cred.client_secret,
        sub=None if who is None else str(who),
        base_url=f"{target.origin}/v3",
        token_url=f"{target.origin}/token",
        rate_limit=10_000,
        rate_window=1.0,
    )


def save_site(target: Target, store: Store, name: str = "gh", **kwargs: Any) -> GreenhouseSite:
    resolved = save_greenhouse_connection(store, name, settings_for(target, **kwargs), make_default=True)
    return GreenhouseSite(target, store, resolved)
