"""Acceptance: a flaky receiver loses nothing; retries follow the schedule and Retry-After; dead
letters, auto-disable and their alerts; redirects and private targets refused at send time."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from store.factories import user_json
from thresher.harvest import User
from thresher.store import Store, StoredConnection, WebhookStore
from thresher.webhooks import DispatcherBusyError, SecretKeeper, WebhookService, run_dispatcher

from .checks import assert_per_user_order, verified
from .conftest import FAST, dispatching
from .receiver import Receiver, Reply, serve_receiver


@pytest.fixture
def conn(store: Store) -> StoredConnection:
    return store.add_connection("acme", 1001)


def _change_users(store: Store, conn: StoredConnection, ids: range) -> None:
    """Three events per user: created, updated, archived."""
    now = dt.datetime.now(dt.UTC)
    for fields in ({}, {"first_name": "Changed"}, {"first_name": "Changed", "is_active": False}):
        with store.transaction() as tx:
            tx.apply_users(
                conn.id, [User.model_validate(user_json(i, **fields)) for i in ids], observed_at=now
            )


def _message_ids(store: Store) -> set[str]:
    from sqlalchemy import select

    from thresher.store._tables import WEBHOOK_EVENTS

    with store.engine.connect() as c:
        return set(c.execute(select(WEBHOOK_EVENTS.c.message_id)).scalars())


async def test_500s_then_timeouts_then_429s_lose_nothing(
    store: Store, conn: StoredConnection, receiver: Receiver, service: WebhookService, keeper: SecretKeeper
) -> None:
    _, secret, _ = service.add(receiver.url, allow_private=True)
    receiver.script.extend([Reply(500)] * 6 + [Reply(200, delay=1.0)] * 3 + [Reply(429, retry_after="0")] * 4)
    _change_users(store, conn, range(1, 11))
    wanted = _message_ids(store)
    assert len(wanted) == 30
    async with dispatching(store, keeper, dataclasses.replace(FAST, timeout=0.4)):
        await receiver.until(lambda r: r.ids() >= wanted and not r.script)
        await receiver.until(lambda _: service.records.count_deliveries()["pending"] == 0)
    payloads = verified(receiver, secret)
    assert {p["id"] for p in payloads} == wanted  # every event at least once
    by_id: dict[str, set[bytes]] = {}
    for r in receiver.delivered():
        by_id.setdefault(r.message_id, set()).add(r.body)
    duplicates = [i for i in by_id if sum(1 for r in receiver.delivered() if r.message_id == i) > 1]
    assert duplicates, "the timed-out deliveries were sent again"
    assert all(len(bodies) == 1 for bodies in by_id.values())  # a duplicate is the same event
    assert_per_user_order(payloads)
    assert service.records.count_deliveries() == {"pending": 0, "delivered": 30, "dead": 0}


async def test_retry_after_and_the_schedule_set_the_next_attempt(
    store: Store, conn: StoredConnection, receiver: Receiver, service: WebhookService, keeper: SecretKeeper
) -> None:
    service.add(receiver.url, allow_private=True)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    receiver.script.extend([Reply(429, retry_after="3600"), Reply(503, retry_after=later), Reply(500)])
    _change_users(store, conn, range(1, 4))
    slow = dataclasses.replace(FAST, retry_schedule=(600.0, 600.0), jitter=0.0)
    await run_dispatcher(store, settings=slow, keeper=keeper, until_idle=True)
    waits = sorted(
        (d.next_attempt_at - d.last_attempt_at).total_seconds()
        for d in service.records.list_deliveries(failed=True)
        if d.last_attempt_at is not None
    )
    assert waits == [pytest.approx(600, abs=2), pytest.approx(3600, abs=2), pytest.approx(7200, abs=5)]
    assert service.redeliver(since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)) == 9
    await run_dispatcher(store, settings=slow, keeper=keeper, until_idle=True)
    assert service.records.count_deliveries() == {"pending": 0, "delivered": 9, "dead": 0}


async def test_a_dead_letter_and_a_disabled_subscription_raise_alerts(
    store: Store, conn: StoredConnection, receiver: Receiver, service: WebhookService, keeper: SecretKeeper
) -> None:
    with serve_receiver() as alerts:
        _, alert_secret, _ = service.add(
            alerts.url, events=["delivery.*", "subscription.disabled"], allow_private=True
        )
        failing, _, _ = service.add(receiver.url, allow_private=True)
        receiver.script.extend([Reply(500)] * 100)
        _change_users(store, conn, range(1, 2))
        settings = dataclasses.replace(FAST, retry_schedule=(0.01, 0.01), disable_after=3600)
        async with dispatching(store, keeper, settings):
            await alerts.until(lambda r: len(r.delivered()) >= 1)
        [dead] = verified(alerts, alert_secret)
        assert dead["type"] == "delivery.dead_lettered"
        assert dead["data"]["subscription_id"] == failing.id
        assert dead["data"]["last_status"] == 500
        assert service.get(failing.id).enabled  # dead-lettered, but not failing for long yet
        attempts = service.delivery(dead["data"]["delivery_id"]).attempt_log
        assert [a.status_code for a in attempts] == [500, 500, 500]
        assert attempts[0].request.startswith("POST http://127.0.0.1:")
        assert "webhook-signature: v1," in attempts[0].request

        async with dispatching(store, keeper, dataclasses.replace(settings, disable_after=0)):
            service.redeliver(
                since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), subscription_id=failing.id
            )
            await alerts.until(lambda r: len(r.delivered()) >= 2)
        disabled = verified(alerts, alert_secret)[1]
        assert disabled["type"] == "subscription.disabled"
        sub = service.get(failing.id)
        assert not sub.enabled
        assert sub.disabled_reason is not None


async def test_redirects_and_private_addresses_are_refused_at_send_time(
    store: Store, conn: StoredConnection, receiver: Receiver, service: WebhookService, keeper: SecretKeeper
) -> None:
    with serve_receiver() as elsewhere:
        redirected, _, _ = service.add(receiver.url, allow_private=True)
        receiver.script.append(Reply(307, location=elsewhere.url))
        _change_users(store, conn, range(1, 2))
        settings = dataclasses.replace(FAST, retry_schedule=(3600.0,))
        await run_dispatcher(store, settings=settings, keeper=keeper, until_idle=True)
        [first, *_] = sorted(
            service.records.list_deliveries(subscription_id=redirected.id), key=lambda d: d.id
        )
        assert first.last_error == "redirect (307) not followed"
        assert elsewhere.received == []
        # The target was allowed when the subscription was made; it is checked again on every send.
        service.records.update_subscription(redirected.id, allow_private=False)
        service.redeliver(delivery_ids=[first.id])
        count = len(receiver.received)
        await run_dispatcher(store, settings=settings, keeper=keeper, until_idle=True)
        again = service.delivery(first.id)
        assert again.last_error is not None
        assert again.last_error.startswith("refused: 127.0.0.1 is a private")
        assert len(receiver.received) == count


async def test_one_dispatcher_per_sqlite_store(sqlite_url: str, keeper: SecretKeeper) -> None:
    with Store.open(sqlite_url) as store:
        stop = asyncio.Event()
        first = asyncio.create_task(run_dispatcher(store, stop=stop, settings=FAST, keeper=keeper))
        records = WebhookStore(store)
        while records.dispatcher_lease() is None:  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.02)
        with pytest.raises(DispatcherBusyError) as info:
            await run_dispatcher(store, settings=FAST, keeper=keeper, until_idle=True)
        assert "one dispatcher" in str(info.value)
        assert info.value.exit_code == 75
        stop.set()
        await first
        await run_dispatcher(store, settings=FAST, keeper=keeper, until_idle=True)  # released: free again
