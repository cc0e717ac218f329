"""Benchmark: webhook delivery through ``thresher worker`` processes (delivery jobs, issue 17).

A PostgreSQL database made for the run (dropped after it), ``--subscriptions`` subscriptions to a
local receiver (its own process, bench/_webhook_receiver.py), ``--workers`` worker processes.

1. Throughput: ``--events`` changes are committed (1,000 per transaction) while the workers run;
   deliveries per second from the first commit to the last arrival (events x subscriptions).
2. Latency: changes committed at a steady ``--rate`` (``--batch`` per transaction); for each, the
   time from its commit to its last arrival (every subscription has it): p50, p99, max. Through
   the workers a delivery waits for the commit's NOTIFY, a delivery pass, and a job's start.

    python bench/webhook_jobs.py [--events 2000] [--subscriptions 4] [--workers 2] [--rate 100]

Needs PostgreSQL: ``--database-url`` or ``THRESHER_TEST_DATABASE_URL``. Last line: JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from thresher.harvest._models import User
from thresher.store import Store, WebhookStore
from thresher.webhooks import WebhookService

RECEIVER = Path(__file__).with_name("_webhook_receiver.py")
SECRET = "thresher-bench-webhook-jobs-secret"


def user(i: int) -> User:
    return User.model_validate({
        "id": i, "first_name": f"First{i}", "last_name": "Bench", "email": f"user{i}@example.com",
        "telephone": "", "timezone": "Etc/UTC", "has_access_to_all_future_projects": False,
        "is_contractor": False, "is_active": True, "weekly_capacity": 126000,
        "default_hourly_rate": 100.0, "cost_rate": 50.0, "roles": [], "access_roles": ["member"],
        "avatar_url": "https://example.com/a.png", "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    })


class Arrivals:
    """The receiver's ``change_id time`` lines: the last arrival of each change, and a count."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.last: dict[int, float] = {}
        self.count = 0
        self._process = process
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            change, arrived = line.split()
            self.count += 1
            self.last[int(change)] = max(self.last.get(int(change), 0.0), float(arrived))

    def wait_for(self, count: int, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.count} of {count} deliveries arrived")
            time.sleep(0.01)


@contextlib.contextmanager
def _database(base: str) -> Iterator[str]:
    url = make_url(base).set(drivername="postgresql+psycopg")
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"thresher_bench_hooks_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _commit(store: Store, connection_id: int, users: list[User]) -> tuple[list[int], float]:
    with store.transaction() as tx:
        events = tx.apply_users(connection_id, users, observed_at=dt.datetime.now(dt.UTC))
    return [e.id for e in events], time.time()


def _measure(
    args: argparse.Namespace, store: Store, connection_id: int, arrivals: Arrivals
) -> tuple[float, float, list[float]]:
    subs = args.subscriptions
    # Warm: the workers are up once a first change has reached every subscription.
    _commit(store, connection_id, [user(1)])
    arrivals.wait_for(subs, timeout=120)
    base = arrivals.count

    started = time.time()
    for start in range(2, args.events + 2, 1000):
        _commit(store, connection_id, [user(i) for i in range(start, min(start + 1000, args.events + 2))])
    arrivals.wait_for(base + args.events * subs)
    elapsed = time.time() - started

    base = arrivals.count
    committed: dict[int, float] = {}
    first = args.events + 2
    end = first + args.latency_events
    next_at = time.monotonic()
    for start in range(first, end, args.batch):
        ids, at = _commit(store, connection_id, [user(i) for i in range(start, min(start + args.batch, end))])
        committed.update(dict.fromkeys(ids, at))
        next_at += args.batch / args.rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    arrivals.wait_for(base + args.latency_events * subs)
    delays = sorted(arrivals.last[c] - t for c, t in committed.items())
    return args.events * subs / elapsed, elapsed, delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency-events", type=int, default=500)
    parser.add_argument("--subscriptions", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0, help="changes per second (latency)")
    parser.add_argument("--batch", type=int, default=5, help="changes per transaction (latency)")
    parser.add_argument("--database-url", default=os.environ.get("THRESHER_TEST_DATABASE_URL"))
    parser.add_argument("--log", default="webhook_jobs-workers.log", help="the workers' output")
    args = parser.parse_args()
    if not args.database_url:
        sys.exit("needs PostgreSQL: --database-url or THRESHER_TEST_DATABASE_URL")
    os.environ["THRESHER_SECRET_KEY"] = SECRET
    subs = args.subscriptions
    receiver = subprocess.Popen([sys.executable, str(RECEIVER)], stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline().split()[1])
    arrivals = Arrivals(receiver)
    log = open(args.log, "wb")  # noqa: SIM115 - closed in the finally below
    try:
        with _database(args.database_url) as url, Store.open(url) as store:
            conn = store.add_connection("bench", 1)
            for n in range(subs):
                WebhookService(store).add(
                    f"http://127.0.0.1:{port}/hooks/{n}", events=["user.*"], allow_private=True
                )
            env = {**os.environ, "THRESHER_DATABASE_URL": url, "THRESHER_SECRET_KEY": SECRET}
            workers = [
                subprocess.Popen(
                    [sys.executable, "-m", "thresher", "worker", "--concurrency", str(args.concurrency),
                     "--queues", "webhooks"],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                )
                for _ in range(args.workers)
            ]
            try:
                per_second, elapsed, delays = _measure(args, store, conn.id, arrivals)
                counts = WebhookStore(store).count_deliveries()
            finally:
                # Stopped before their database is dropped.
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    try:
                        worker.wait(60)
                    except subprocess.TimeoutExpired:
                        worker.kill()
                        worker.wait(15)
    finally:
        receiver.terminate()
        receiver.wait(15)
        log.close()
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    load = os.getloadavg()[0]
    print(
        f"{args.events} changes x {subs} subscriptions through {args.workers} workers "
        f"(concurrency {args.concurrency}): {per_second:.0f} deliveries/s ({elapsed:.2f} s)"
    )
    print(
        f"commit to last arrival over {len(delays)} changes at {args.rate:.0f}/s: p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
    )
    print(f"deliveries by status: {counts}; load average {load:.2f}")
    print(json.dumps({
        "benchmark": "webhook_jobs", "events": args.events, "subscriptions": subs,
        "workers": args.workers, "concurrency": args.concurrency,
        "deliveries_per_s": round(per_second, 1), "latency_events": len(delays),
        "rate_per_s": args.rate, "p50_ms": round(p50 * 1000, 1), "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(delays[-1] * 1000, 1), "load_average": round(load, 2),
    }))


if __name__ == "__main__":
    main()
