"""The rate budget shared by every process on a store: an exact sliding window per account.

Assertions are on the times the budget hands out and stores, never on how long anything took:
windows are long (hundreds of seconds) and nobody sleeps until a reserved time.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from thresher.harvest import SharedBudget
from thresher.store import BudgetTicket, InvalidArgumentError, RateBudget, Store
from thresher.store._budget import STALE

KEY = "http://127.0.0.1:1/v2 account 42"
WINDOW = 1000.0
MARGIN = 0.005
SPAN = WINDOW * (1 + MARGIN)


def ticket(budget: RateBudget) -> BudgetTicket:
    handle = budget.reserve().handle
    assert isinstance(handle, BudgetTicket)
    return handle


def assert_never_over(send_times: list[float], limit: int) -> None:
    """No window of WINDOW seconds holds more than ``limit`` of the sends."""
    times = sorted(send_times)
    for first, later in zip(times, times[limit:], strict=False):
        assert later - first >= WINDOW


def test_the_store_budget_is_a_shared_budget(store: Store) -> None:
    budget = store.rate_budget(KEY, limit=3, window=WINDOW)
    assert isinstance(budget, SharedBudget)
    assert budget.state().slots == ()  # nothing stored before first use


def test_limit_requests_go_at_once_and_the_next_one_window_after_the_oldest_answer(
    store: Store,
) -> None:
    budget = store.rate_budget(KEY, limit=3, window=WINDOW, margin=MARGIN)
    first = [ticket(budget) for _ in range(3)]
    assert sorted(t.slot for t in first) == [0, 1, 2]
    assert all(t < 0 for t in budget.state().slots)  # every place is in flight
    # A place in flight may still arrive at Harvest at any moment: nothing is reserved yet.
    waiting = budget.reserve()
    assert waiting.handle is None
    assert waiting.delay == pytest.approx(SPAN)
    budget.complete(first[1])
    answered = budget.state().slots[first[1].slot]
    assert answered >= first[1].send_at
    fourth = ticket(budget)
    assert fourth.slot == first[1].slot
    assert fourth.send_at == pytest.approx(answered + SPAN)
    assert budget.state().cursor == (fourth.slot + 1) % 3


def test_the_oldest_answered_place_is_taken_first(store: Store) -> None:
    budget = store.rate_budget(KEY, limit=2, window=WINDOW, margin=MARGIN)
    a, b = ticket(budget), ticket(budget)
    budget.complete(b)
    budget.complete(a)  # answered after b: b's place is the older one now
    assert ticket(budget).slot == b.slot
    # Completing a place twice, or after it was taken again, changes nothing.
    before = budget.state()
    budget.complete(b)
    assert budget.state() == before


def test_a_place_abandoned_in_flight_is_taken_again_once_stale(store: Store) -> None:
    budget = store.rate_budget(KEY, limit=1, window=WINDOW)
    ticket(budget)
    assert budget.reserve().handle is None
    reserved = time.time() - STALE - 5
    with store.engine.begin() as conn:  # the process died in flight, long ago
        conn.execute(text("UPDATE rate_budget_slots SET sent_at = :t"), {"t": -reserved})
    assert ticket(budget).send_at == pytest.approx(reserved + SPAN)


def test_a_pause_holds_every_reservation(store: Store) -> None:
    budget = store.rate_budget(KEY, limit=50, window=WINDOW)
    before = time.time()
    budget.pause(300)
    budget.pause(10)  # a shorter pause never shortens a longer one
    other = store.rate_budget(KEY, limit=50, window=WINDOW)  # another process's view
    reservation = other.reserve()
    assert reservation.delay > 200
    assert ticket(other).send_at >= before + 300
    assert other.state().paused_until >= before + 300


def test_accounts_have_budgets_of_their_own(store: Store) -> None:
    one = store.rate_budget(KEY, limit=1, window=WINDOW)
    two = store.rate_budget(KEY.replace("42", "43"), limit=1, window=WINDOW)
    assert one.reserve().delay <= 1.0
    assert two.reserve().delay <= 1.0
    assert one.reserve().handle is None  # its only place is in flight


def test_an_idle_ring_takes_a_new_limit_and_a_busy_one_keeps_its_own(store: Store) -> None:
    busy = store.rate_budget(KEY, limit=2, window=WINDOW)
    ticket(busy)
    bigger = store.rate_budget(KEY, limit=5, window=WINDOW)
    ticket(bigger)  # a request is in flight: the ring of 2 stays
    assert len(bigger.state().slots) == 2
    assert bigger.reserve().handle is None  # both places of the ring of 2 are in flight
    other_key = KEY + "-idle"
    small = store.rate_budget(other_key, limit=2, window=0.001)
    small.complete(ticket(small))
    grown = store.rate_budget(other_key, limit=4, window=0.001)
    # Rebuilt once nothing counts any more (a millisecond here); wait on the stored state.
    deadline = time.monotonic() + 30
    while len(grown.state().slots) != 4 and time.monotonic() < deadline:
        grown.complete(ticket(grown))
    assert len(grown.state().slots) == 4


def test_bad_arguments_are_refused(store: Store) -> None:
    with pytest.raises(InvalidArgumentError):
        store.rate_budget("", limit=1, window=1)
    with pytest.raises(InvalidArgumentError):
        store.rate_budget(KEY, limit=0, window=1)
    with pytest.raises(InvalidArgumentError):
        store.rate_budget(KEY, limit=1, window=1).complete("not a ticket")


def test_two_stores_on_one_database_never_overrun_the_window(database_url: str) -> None:
    """Four threads on two ``Store`` objects (two processes' worth of connections) reserve at
    once: the times handed out never put more than ``limit`` sends in any window."""
    limit, per_thread = 10, 15
    stores = [Store.open(database_url), Store.open(database_url)]
    times: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(store: Store) -> None:
        budget = store.rate_budget(KEY, limit=limit, window=WINDOW)
        try:
            for _ in range(per_thread):
                reservation = budget.reserve()
                # A full ring in flight gives nothing: answer one's own oldest and ask again.
                handle = reservation.handle
                assert isinstance(handle, BudgetTicket | None)
                if handle is None:
                    continue
                budget.complete(handle)
                with lock:
                    times.append(handle.send_at)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(stores[i % 2],)) for i in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for opened in stores:
            opened.close()
    assert not errors, errors
    assert len(times) == 4 * per_thread
    assert_never_over(times, limit)
    # Exactly ``limit`` went at once; everything else waits whole windows.
    start = min(times)
    assert sum(1 for t in times if t - start < WINDOW) == limit
