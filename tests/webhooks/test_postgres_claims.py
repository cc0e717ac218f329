"""Claims on PostgreSQL (store/_webhook_claims.py): a user's events are claimed one at a time in
order, and one user's long queue never holds back the other users' deliveries, however deep it is.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from store.factories import user_json
from thresher.harvest import User
from thresher.store import DeliveryClaim, DeliveryResult, Store, WebhookStore
from thresher.webhooks import SecretKeeper, WebhookService

TTL = 60.0


def _user_of(claim: DeliveryClaim) -> int:
    user_id: int = json.loads(claim.body)["data"]["user"]["id"]
    return user_id


def _queue(store: Store, connection_id: int, changes: list[tuple[int, int]]) -> None:
    """One event a (user, version) in this order, in one commit."""
    with store.transaction() as tx:
        for harvest_id, version in changes:
            tx.apply_users(
                connection_id,
                [User.model_validate(user_json(harvest_id, first_name=f"V{version}"))],
                observed_at=dt.datetime.now(dt.UTC),
            )


def _failed(claim: DeliveryClaim, retry_in: float) -> DeliveryResult:
    return DeliveryResult(claim.delivery_id, claim.subscription_id, False, 500, "HTTP 500", 12.5,
                          "POST /hooks", "oops", retry_in=retry_in)


@pytest.fixture
def acme(postgres_url: str, keeper: SecretKeeper) -> Iterator[tuple[Store, int]]:
    """A PostgreSQL store with a connection and one subscription to all its events."""
    with Store.open(postgres_url) as store:
        conn = store.add_connection("acme", 1001)
        WebhookService(store, keeper=keeper).add("http://127.0.0.1:9/hooks", allow_private=True)
        yield store, conn.id


def test_a_long_queue_of_one_user_does_not_hold_back_the_others(acme: tuple[Store, int]) -> None:
    store, connection_id = acme
    # More events of user 1 than a claim of four looks at before grouping every pending one
    # (64: eight a slot, at least 64).
    _queue(store, connection_id, [(1, v) for v in range(70)] + [(2, 0), (3, 0), (4, 0)])
    records = WebhookStore(store)
    first = records.claim("dispatcher-a", limit=4, ttl=TTL)
    assert sorted(_user_of(c) for c in first) == [1, 2, 3, 4]  # one each, user 1's first
    assert min(c.delivery_id for c in first if _user_of(c) == 1) == min(c.delivery_id for c in first)
    # While those are out, nothing more is claimable: each user's next waits for its first.
    assert records.claim("dispatcher-b", limit=8, ttl=TTL) == []


def test_a_retried_delivery_keeps_the_users_later_events_waiting(acme: tuple[Store, int]) -> None:
    store, connection_id = acme
    _queue(store, connection_id, [(1, 0), (1, 1), (1, 2), (2, 0)])
    records = WebhookStore(store)
    first = records.claim("dispatcher", limit=8, ttl=TTL)
    assert [_user_of(c) for c in first] == [1, 2]
    user_1 = next(c for c in first if _user_of(c) == 1)
    # User 1's first event failed and is retried in a minute; user 2's was delivered.
    records.complete([_failed(user_1, retry_in=60.0)], disable_after=3600)
    records.complete(
        [DeliveryResult(c.delivery_id, c.subscription_id, True, 204, None, 1.0, "", "")
         for c in first if _user_of(c) == 2],
        disable_after=3600,
    )
    # Recorded as operators see it: the attempt, its outcome, and when it is tried again.
    stored = records.get_delivery(user_1.delivery_id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_status, stored.last_error) == (
        "pending", 1, 500, "HTTP 500")
    assert stored.last_attempt_at is not None
    assert stored.next_attempt_at - stored.last_attempt_at == dt.timedelta(seconds=60)
    assert [(a.status_code, a.error, a.duration_ms, a.request, a.response)
            for a in stored.attempt_log] == [(500, "HTTP 500", 12.5, "POST /hooks", "oops")]
    done = records.get_delivery(next(c.delivery_id for c in first if _user_of(c) == 2))
    assert done is not None
    assert (done.status, done.attempts, done.delivered_at is not None) == ("delivered", 1, True)
    # Its later events are pending and due, but must not overtake it.
    assert records.claim("dispatcher", limit=8, ttl=TTL) == []
    _queue(store, connection_id, [(2, 1)])
    again = records.claim("dispatcher", limit=8, ttl=TTL)
    assert [_user_of(c) for c in again] == [2]
