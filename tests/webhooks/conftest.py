"""Fixtures of the webhook tests: a receiver over real HTTP, a store, and a running dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from thresher.connections import SecretBox
from thresher.store import Store
from thresher.webhooks import DispatchSettings, DispatchStats, SecretKeeper, WebhookService, run_dispatcher

from .receiver import Receiver, serve_receiver

#: Retries in fractions of a second instead of days (DispatchSettings is the clock's only seam).
FAST = DispatchSettings(
    retry_schedule=(0.05, 0.05, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2),
    jitter=0.1,
    timeout=2.0,
    poll_interval=0.02,
    claim_ttl=10.0,
    lease_ttl=5.0,
)
KEY = SecretBox.from_env({"THRESHER_SECRET_KEY": "webhook-tests-passphrase-not-a-real-one"})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as running:
        yield running


@pytest.fixture
def keeper() -> SecretKeeper:
    return SecretKeeper(KEY)


@pytest.fixture
def service(store: Store, keeper: SecretKeeper) -> WebhookService:
    return WebhookService(store, keeper=keeper)


@contextlib.asynccontextmanager
async def dispatching(
    store: Store, keeper: SecretKeeper, settings: DispatchSettings = FAST
) -> AsyncIterator[asyncio.Task[DispatchStats]]:
    """A dispatcher running in the background until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_dispatcher(store, stop=stop, settings=settings, keeper=keeper))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
