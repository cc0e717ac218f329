"""Acceptance: two dispatchers on one PostgreSQL store claim with SKIP LOCKED; no event is
delivered twice in the normal case, and each user's events still arrive in order."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

from store.factories import user_json
from thresher.harvest import User
from thresher.store import Store
from thresher.webhooks import SecretKeeper, WebhookService

from .checks import assert_per_user_order, verified
from .conftest import FAST, dispatching
from .receiver import Receiver


async def test_two_dispatchers_never_send_an_event_twice(
    postgres_url: str, receiver: Receiver, keeper: SecretKeeper
) -> None:
    with Store.open(postgres_url) as first, Store.open(postgres_url) as second:
        conn = first.add_connection("acme", 1001)
        _, secret, _ = WebhookService(first, keeper=keeper).add(receiver.url, allow_private=True)
        settings = dataclasses.replace(FAST, max_in_flight=8)
        now = dt.datetime.now(dt.UTC)
        async with dispatching(first, keeper, settings), dispatching(second, keeper, settings):
            for round_ in range(5):
                for fields in ({}, {"first_name": f"Round{round_}"}):
                    users = [User.model_validate(user_json(i, **fields)) for i in range(1, 61)]
                    with first.transaction() as tx:
                        tx.apply_users(conn.id, users, observed_at=now)
            total = sum(WebhookService(first, keeper=keeper).records.count_deliveries().values())
            await receiver.until(lambda r: len(r.delivered()) >= total)
        delivered = receiver.delivered()
        assert len(delivered) == total == 600  # 60 created, then nine rounds of 60 updates
        assert len({r.message_id for r in delivered}) == total  # nobody sent one twice
        assert_per_user_order(verified(receiver, secret))


async def test_a_commit_wakes_a_listening_dispatcher(
    postgres_url: str, receiver: Receiver, keeper: SecretKeeper
) -> None:
    # Polling every two minutes: a delivery well within that came from the commit's NOTIFY.
    settings = dataclasses.replace(FAST, poll_interval=120.0)
    with Store.open(postgres_url) as store:
        conn = store.add_connection("acme", 1001)
        WebhookService(store, keeper=keeper).add(receiver.url, allow_private=True)
        async with dispatching(store, keeper, settings) as task:
            with store.transaction() as tx:  # nothing due yet: the dispatcher goes idle
                tx.apply_users(conn.id, [], observed_at=dt.datetime.now(dt.UTC))
            await asyncio.sleep(1.0)  # time to make its first (empty) claim and start waiting
            assert not task.done()
            with store.transaction() as tx:
                tx.apply_users(
                    conn.id, [User.model_validate(user_json(7))], observed_at=dt.datetime.now(dt.UTC)
                )
            await receiver.until(lambda r: len(r.delivered()) >= 1, within=60)
    assert receiver.delivered()[0].payload()["type"] == "user.created"
