"""The outbox: deliveries are written in the change's own transaction, for the subscriptions
that want them, frozen as the change left the user (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from store.factories import at, user_json
from thresher.harvest import User
from thresher.store import DeliveryResult, Store, StoredConnection, WebhookStore
from thresher.webhooks import WebhookService


def _users(*ids: int, **fields: object) -> list[User]:
    return [User.model_validate(user_json(i, **fields)) for i in ids]


@pytest.fixture
def conn(store: Store) -> StoredConnection:
    return store.add_connection("acme", 1001)


def _types(records: WebhookStore) -> list[str]:
    return [d.kind for d in sorted(records.list_deliveries(limit=None), key=lambda d: d.id)]


def test_a_change_and_its_deliveries_commit_together_or_not_at_all(
    store: Store, conn: StoredConnection, service: WebhookService
) -> None:
    service.add("http://127.0.0.1:9/hook", allow_private=True)

    def fail_before_commit() -> None:
        with store.transaction() as tx:
            tx.apply_users(conn.id, _users(1, 2), observed_at=at(0))
            raise RuntimeError("the writer fails before the commit")

    with pytest.raises(RuntimeError):
        fail_before_commit()
    assert store.list_events() == []
    assert service.records.count_deliveries()["pending"] == 0
    with store.transaction() as tx:
        tx.apply_users(conn.id, _users(1, 2), observed_at=at(0))
    assert len(store.list_events()) == 2
    assert _types(service.records) == ["user.created", "user.created"]


def test_without_subscriptions_nothing_is_queued(
    store: Store, conn: StoredConnection, service: WebhookService
) -> None:
    with store.transaction() as tx:
        tx.apply_users(conn.id, _users(1), observed_at=at(0))
    assert service.records.count_deliveries() == {"pending": 0, "delivered": 0, "dead": 0}


def test_event_types_filters_and_connections_choose_the_subscriptions(
    store: Store, conn: StoredConnection, service: WebhookService
) -> None:
    other = store.add_connection("other", 2002)
    archived_only, _, _ = service.add("http://127.0.0.1:9/a", events=["user.archived"], allow_private=True)
    by_domain, _, _ = service.add("http://127.0.0.1:9/b", email_domain="Example.com", allow_private=True)
    managers, _, _ = service.add("http://127.0.0.1:9/c", access_role="manager", allow_private=True)
    elsewhere, _, _ = service.add("http://127.0.0.1:9/d", connection="other", allow_private=True)
    with store.transaction() as tx:
        tx.apply_users(conn.id, _users(1, 2), observed_at=at(0))
        tx.apply_users(conn.id, _users(1, is_active=False), observed_at=at(1))
        tx.apply_users(other.id, _users(7), observed_at=at(2))
    records = service.records

    def kinds(sub_id: int) -> list[str]:
        return sorted(d.kind for d in records.list_deliveries(subscription_id=sub_id, limit=None))

    assert kinds(archived_only.id) == ["user.archived"]
    assert kinds(by_domain.id) == ["user.archived", "user.created", "user.created", "user.created"]
    assert kinds(managers.id) == []
    assert kinds(elsewhere.id) == ["user.created"]


def test_payloads_are_frozen_with_the_user_as_the_change_left_it(
    store: Store, conn: StoredConnection, service: WebhookService
) -> None:
    service.add("http://127.0.0.1:9/hook", allow_private=True)
    with store.transaction() as tx:
        tx.apply_users(conn.id, _users(1, updated_at="2024-05-01T10:00:00Z"), observed_at=at(0))
    with store.transaction() as tx:
        tx.apply_users(
            conn.id, _users(1, first_name="Ada", updated_at="2024-05-02T10:00:00Z"), observed_at=at(5)
        )
    claims = service.records.claim("t", limit=10, ttl=30)
    assert [c.kind for c in claims] == ["user.created"]  # the update waits behind it (per-user order)
    created = claims[0].payload
    assert created["timestamp"] == "2024-05-01T10:00:00+00:00"  # Harvest's clock: its updated_at
    assert created["data"]["user"]["first_name"] == "First1"
    assert created["data"]["connection"] == {"id": conn.id, "name": "acme", "account_id": 1001}
    assert created["data"]["source"] == "sync"
    service.records.complete(
        [DeliveryResult(claims[0].delivery_id, claims[0].subscription_id, True, 200, None, 1, "", "")],
        disable_after=60,
    )
    updated = service.records.claim("t", limit=10, ttl=30)[0].payload
    assert updated["type"] == "user.updated"
    assert updated["data"]["changes"] == {"first_name": {"before": "First1", "after": "Ada"}}
    assert updated["data"]["user"]["first_name"] == "Ada"


def test_a_users_later_events_wait_for_its_earlier_ones(
    store: Store, conn: StoredConnection, service: WebhookService
) -> None:
    service.add("http://127.0.0.1:9/hook", allow_private=True)
    with store.transaction() as tx:
        tx.apply_users(conn.id, _users(1, 2), observed_at=at(0))
        tx.apply_users(conn.id, _users(1, is_active=False), observed_at=at(1))
    records = service.records
    first = records.claim("a", limit=10, ttl=30)
    assert sorted(c.payload["data"]["harvest_id"] for c in first) == [1, 2]
    assert records.claim("b", limit=10, ttl=30) == []  # claimed, and user 1's archive is blocked
    failed = next(c for c in first if c.payload["data"]["harvest_id"] == 1)
    records.complete(
        [
            DeliveryResult(
                failed.delivery_id, failed.subscription_id, False, 500, "HTTP 500", 1, "", "", retry_in=0
            )
        ],
        disable_after=60,
    )
    again = records.claim("b", limit=10, ttl=30)
    assert [c.kind for c in again] == ["user.created"]  # the retry, still before the archive


def test_operational_events_reach_only_those_who_asked(
    store: Store, conn: StoredConnection, service: WebhookService
) -> None:
    alerts, _, _ = service.add(
        "http://127.0.0.1:9/a", events=["sync.*", "credentials.expired"], allow_private=True
    )
    service.add("http://127.0.0.1:9/b", allow_private=True)  # changes only
    queued = service.records.record_alert("sync.failed", connection_id=conn.id, details={"error": "X"})
    assert queued == 1
    [delivery] = service.records.list_deliveries()
    assert (delivery.subscription_id, delivery.kind) == (alerts.id, "sync.failed")


def test_secrets_are_stored_sealed(store: Store, service: WebhookService) -> None:
    sub, secret, _ = service.add("http://127.0.0.1:9/hook", allow_private=True)
    assert secret.startswith("whsec_")
    stored = service.records.get_subscription(sub.id)
    assert stored is not None
    assert secret not in stored.secret
    assert secret not in repr(stored)
    assert "secret" not in stored.as_dict()
    assert service.keeper.open(stored.secret) == secret
