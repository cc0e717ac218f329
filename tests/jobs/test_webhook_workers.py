"""Webhook delivery by ``thresher worker`` processes (issue 17): the events a sync writes reach a
real receiver through the workers' delivery jobs, two workers never send one subscription's queue
at once (read from the receiver's own log), and a worker killed in the middle of sending loses
nothing: the rest is delivered by another, and only what was under way is sent twice."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from thresher.cli import main
from thresher.store import Store, WebhookStore
from thresher.webhooks import WebhookService
from webhooks.receiver import Receiver, Reply, Span, serve_receiver

from .conftest import make_fleet, start_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

WORKER_ENV = {
    "THRESHER_JOBS_TICK": "1",
    "THRESHER_JOBS_HEARTBEAT": "1",
    "THRESHER_JOBS_STALLED_AFTER": "4",
    "THRESHER_JOBS_WEBHOOK_CLAIM_TTL": "3",
}
_JOB = re.compile(r"job/(\S+)")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as running:
        yield running


def _message_ids(store: Store, subscription_id: int) -> set[str]:
    deliveries = WebhookStore(store).list_deliveries(subscription_id=subscription_id, limit=None)
    return {d.message_id for d in deliveries}


def _settled(store: Store, expected: int) -> bool:
    counts = WebhookStore(store).count_deliveries()
    return counts["pending"] == 0 and counts["delivered"] == expected


def _overlaps(spans: list[Span]) -> list[tuple[str, str]]:
    """Pairs of jobs whose requests to one target were under way at the same moment."""
    found = []
    ordered = sorted(spans, key=lambda s: s.started)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.started >= a.ended:
                break
            job_a, job_b = _JOB.search(a.user_agent), _JOB.search(b.user_agent)
            assert job_a, a.user_agent  # every request came from a job
            assert job_b, b.user_agent
            if job_a.group(1) != job_b.group(1):
                found.append((job_a.group(1), job_b.group(1)))
    return found


def test_sync_events_reach_receivers_through_workers_one_sender_per_subscription(
    jobs_database_url: str, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    accounts, users, paths = 5, 12, ("/a", "/b", "/c")
    # Two deliveries under way per job and slow answers: a subscription's queue takes seconds
    # to drain, and the passes (each tick, each commit) find it due meanwhile and queue another
    # job for it, which the lock keeps waiting (without it, it runs beside the first).
    env = {**WORKER_ENV, "THRESHER_JOBS_WEBHOOK_IN_FLIGHT": "2"}
    receiver.default = Reply(delay=0.05)
    with (
        make_fleet(jobs_database_url, accounts, users=users, interval_s=3.0, monkeypatch=monkeypatch),
        Store.open(jobs_database_url) as store,
    ):
        service = WebhookService(store)
        base = receiver.url.removesuffix("/hook")
        subs = {path: service.add(base + path, events=["user.*"], allow_private=True)[0] for path in paths}
        expected = accounts * users * len(paths)  # a user.created each
        workers = [start_worker(jobs_database_url, "--concurrency", "4", env=env) for _ in range(2)]
        try:
            wait_for(lambda: _settled(store, expected), timeout=150,
                     what=f"{expected} deliveries recorded as delivered")
            code, out = _cli(jobs_database_url, "jobs", "--json")
        finally:
            codes = [w.stop() for w in workers]
        assert codes == [0, 0], [w.output for w in workers]
        for worker in workers:
            assert "Traceback" not in worker.output, worker.output
        for path, sub in subs.items():
            spans = [s for s in receiver.spans if s.path == path]
            # Every event arrived, each once (no worker died: nothing is sent twice).
            assert Counter(s.message_id for s in spans) == Counter(_message_ids(store, sub.id)), path
            assert len(spans) == accounts * users
            # One job at a time per subscription, across both workers.
            assert _overlaps(spans) == [], path
        # Each came from a worker's delivery job (their User-Agent names it).
        assert all(_JOB.search(s.user_agent) for s in receiver.spans)
        assert code == 0, out
        shown = json.loads(out)["webhooks"]
        assert [(w["subscription_id"], w["pending"], w["dead"]) for w in shown] == [
            (sub.id, 0, 0) for sub in subs.values()
        ]
        assert all(w["url"].startswith("http://127.0.0.1:") for w in shown)


def _cli(database_url: str, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    with runner.isolation(env={"THRESHER_DATABASE_URL": database_url, "COLUMNS": "200"}) as (out, _, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode()


def test_a_worker_killed_mid_delivery_loses_nothing_and_resends_only_what_was_under_way(
    jobs_database_url: str, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    in_flight = 4
    env = {**WORKER_ENV, "THRESHER_JOBS_WEBHOOK_IN_FLIGHT": str(in_flight)}
    # 40 events at 4 at a time, 0.4 s each: about 4 s of sending to be killed in.
    receiver.default = Reply(delay=0.4)
    with (
        make_fleet(jobs_database_url, 2, users=20, interval_s=3.0, monkeypatch=monkeypatch),
        Store.open(jobs_database_url) as store,
    ):
        sub, _, _ = WebhookService(store).add(receiver.url, events=["user.*"], allow_private=True)
        victim = start_worker(jobs_database_url, "--concurrency", "4", env=env)
        survivor = None
        try:
            wait_for(lambda: len(receiver.received) >= 6, timeout=90, what="the first deliveries")
            os.kill(victim.process.pid, signal.SIGKILL)
            assert victim.process.wait(30) == -signal.SIGKILL
            # What the worker had sent when it died: requests already on the wire still reach
            # the receiver after the kill (nothing else sends until the claims expire, 3 s).
            time.sleep(1.0)
            before_kill = {r.message_id for r in list(receiver.received)}
            pending = WebhookStore(store).count_deliveries()["pending"]
            assert pending > 0  # killed in the middle, not after the end
            survivor = start_worker(jobs_database_url, "--concurrency", "4", env=env)
            wait_for(lambda: _settled(store, 40), timeout=120,
                     what="every delivery recorded as delivered")
        finally:
            victim.stop()
            code = survivor.stop() if survivor is not None else None
        assert code == 0, survivor.output if survivor else ""
        assert "Traceback" not in (survivor.output if survivor else "")
        wanted = _message_ids(store, sub.id)
        received = Counter(r.message_id for r in receiver.delivered())
        assert len(wanted) == 40
        assert set(received) == wanted  # nothing lost
        twice = {m for m, n in received.items() if n > 1}
        # Sent again only what the killed worker had under way (its unrecorded claims), the
        # at-least-once bound of docs/webhooks.md, and never more than once more.
        assert twice <= before_kill
        assert len(twice) <= in_flight
        assert max(received.values()) <= 2
