"""Values: timezone-aware UTC datetimes and exact decimals on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from thresher.store import Store, StoredConnection
from thresher.store._types import canonical_decimal, utc

from .factories import make_user


def test_datetimes_round_trip_as_aware_utc(store: Store, conn: StoredConnection) -> None:
    india = dt.timezone(dt.timedelta(hours=5, minutes=30))
    created = dt.datetime(2021, 6, 1, 12, 0, 0, 654321, tzinfo=india)
    observed = dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    with store.transaction() as tx:
        [event] = tx.apply_users(
            conn.id, [make_user(1, created_at=created.isoformat())], observed_at=observed
        )
    user = store.get_user(conn.id, 1)
    assert user is not None
    for value in (user.created_at, user.updated_at, user.first_seen_at, user.last_seen_at, event.observed_at):
        assert value.tzinfo is not None
        assert value.utcoffset() == dt.timedelta(0)
    assert user.created_at == created
    assert user.created_at.hour == 6
    assert user.created_at.microsecond == 654321
    assert user.first_seen_at == observed
    assert user.first_seen_at.day == 1  # 2024-03-01 07:59:59.999999 UTC
    assert event.changes["created_at"]["after"] == "2021-06-01T06:30:00.654321+00:00"
    [stored_event] = store.list_events(conn.id)
    assert stored_event.observed_at == observed
    assert stored_event.observed_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "amount",
    ["0.1", "0.30", "12345678901234.123456789", "99999999999999999999.99", "-3.5", "1E+3"],
)
def test_decimals_are_exact(store: Store, conn: StoredConnection, amount: str) -> None:
    with store.transaction() as tx:
        tx.apply_users(conn.id, [make_user(1, cost_rate=amount)], observed_at=dt.datetime.now(dt.UTC))
    user = store.get_user(conn.id, 1)
    assert user is not None
    assert user.cost_rate == Decimal(amount)
    assert store.snapshot_users(conn.id)[1]["cost_rate"] == canonical_decimal(Decimal(amount))


def test_canonical_decimal() -> None:
    assert canonical_decimal(Decimal("100.00")) == "100"
    assert canonical_decimal(Decimal("1E+2")) == "100"
    assert canonical_decimal(Decimal("37.50")) == "37.5"
    assert canonical_decimal(Decimal("-0.00")) == "0"
    assert canonical_decimal(Decimal("0.000001")) == "0.000001"
    with pytest.raises(ValueError, match="finite"):
        canonical_decimal(Decimal("NaN"))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        utc(dt.datetime(2024, 1, 1))
