"""Benchmark: webhook deliveries per second, and the delay from a change's commit to its delivery.

1. Throughput: ``--events`` changes are queued (SQLite store, one subscription), then one
   dispatcher delivers them all to a local receiver (its own process); deliveries per second.
   Target >= 500/s. Beside it, what does not depend on the machine's load: CPU milliseconds per
   delivery of this process (the dispatcher) and, on PostgreSQL, of the database's server
   processes serving this database, and the statements and commits sent per delivery.
2. Latency: with a dispatcher running, changes are committed at a steady pace (``--rate`` per
   second, ``--batch`` per transaction); for each, the time from its commit to its arrival at the
   receiver. Target p99 <= 1 s.

    python bench/webhooks.py [--events 5000] [--latency-events 1000] [--rate 200] [--database-url URL]

Prints a human summary, then one line of JSON with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import event, text

from thresher.connections import SecretBox
from thresher.harvest._models import User
from thresher.store import Store, WebhookStore
from thresher.webhooks import DispatchSettings, SecretKeeper, WebhookService, run_dispatcher

THROUGHPUT_TARGET = 500.0
P99_TARGET_S = 1.0
RECEIVER = Path(__file__).with_name("_webhook_receiver.py")


def user(i: int, name: str = "First") -> User:
    return User.model_validate(
        {
            "id": i,
            "first_name": f"{name}{i}",
            "last_name": "Bench",
            "email": f"user{i}@example.com",
            "telephone": "",
            "timezone": "Etc/UTC",
            "has_access_to_all_future_projects": False,
            "is_contractor": False,
            "is_active": True,
            "weekly_capacity": 126000,
            "default_hourly_rate": 100.0,
            "cost_rate": 50.0,
            "roles": [],
            "access_roles": ["member"],
            "avatar_url": "https://example.com/a.png",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }
    )


class Arrivals:
    """Reads the receiver's ``change_id time`` lines in a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.times: dict[int, float] = {}
        self.count = 0
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            change, arrived = line.split()
            self.count += 1
            self.times.setdefault(int(change), float(arrived))

    def wait_for(self, count: int, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.count} of {count} deliveries arrived")
            time.sleep(0.01)


async def _raw_baseline(url: str, count: int, concurrency: int) -> float:
    """Plain httpx POSTs of a payload-sized body at the same concurrency, without signing, the
    outbox or the database: how loaded the machine is now, beside the figures (the dispatcher's
    own HTTP/1.1 client, webhooks/_http.py, costs less per request than httpx)."""
    import httpx

    body = json.dumps({"data": {"change_id": 0}, "pad": "x" * 900}).encode()
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency), trust_env=False) as client:

        async def one() -> None:
            async with slots:
                await client.post(url, content=body)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return count / (time.perf_counter() - started)


def _cpu_self() -> float:
    """CPU seconds (user and system) of this process so far, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(store: Store) -> dict[int, float] | None:
    """PostgreSQL on this machine: CPU seconds so far of each server process serving this
    database (read from /proc); None on SQLite or where /proc says nothing."""
    if store.dialect != "postgresql":
        return None
    with store.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
        found = list(pids.scalars())
    tick = os.sysconf("SC_CLK_TCK")
    cpu: dict[int, float] = {}
    for pid in found:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return cpu or None


class _Trips:
    """Statements sent and commits made through the store's engine: round trips, whatever the load."""

    def __init__(self, store: Store) -> None:
        self.statements = self.commits = 0
        event.listen(store.engine, "before_cursor_execute", self._statement)
        event.listen(store.engine, "commit", self._commit)

    def _statement(self, *_: object) -> None:
        self.statements += 1

    def _commit(self, *_: object) -> None:
        self.commits += 1


def _commit(store: Store, connection_id: int, users: list[User]) -> tuple[list[int], float]:
    with store.transaction() as tx:
        events = tx.apply_users(connection_id, users, observed_at=dt.datetime.now(dt.UTC))
    return [e.id for e in events], time.time()


async def _latency(
    store: Store,
    connection_id: int,
    arrivals: Arrivals,
    settings: DispatchSettings,
    keeper: SecretKeeper,
    *,
    events: int,
    rate: float,
    batch: int,
    first_id: int,
) -> list[float]:
    stop = asyncio.Event()
    dispatcher = asyncio.create_task(run_dispatcher(store, stop=stop, settings=settings, keeper=keeper))
    committed: dict[int, float] = {}
    before = arrivals.count
    try:
        await asyncio.sleep(0.3)  # the dispatcher is running and idle
        next_at = time.monotonic()
        for start in range(first_id, first_id + events, batch):
            ids, at = await asyncio.to_thread(
                _commit,
                store,
                connection_id,
                [user(i) for i in range(start, min(start + batch, first_id + events))],
            )
            committed.update(dict.fromkeys(ids, at))
            next_at += batch / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.to_thread(arrivals.wait_for, before + events)
    finally:
        stop.set()
        await dispatcher
    return sorted(arrivals.times[c] - t for c, t in committed.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--latency-events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="changes per second (latency)")
    parser.add_argument("--batch", type=int, default=10, help="changes per transaction (latency)")
    parser.add_argument("--database-url")
    args = parser.parse_args()

    receiver = subprocess.Popen([sys.executable, str(RECEIVER)], stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline().split()[1])
    arrivals = Arrivals(receiver)
    keeper = SecretKeeper(SecretBox.from_env({"THRESHER_SECRET_KEY": os.urandom(16).hex()}))
    settings = DispatchSettings(max_in_flight=64, per_host=16, poll_interval=0.05)
    try:
        baseline = asyncio.run(_raw_baseline(f"http://127.0.0.1:{port}/raw", 1000, settings.per_host))
        arrivals.wait_for(1000)
        arrivals.count = 0
        arrivals.times.clear()
        with tempfile.TemporaryDirectory(prefix="thresher-bench-") as tmp:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'webhooks.db'}"
            with Store.open(url) as store:
                conn = store.add_connection("bench", 1)
                WebhookService(store, keeper=keeper).add(
                    f"http://127.0.0.1:{port}/hooks", events=["user.*"], allow_private=True
                )
                queued = time.perf_counter()
                for start in range(1, args.events + 1, 1000):
                    _commit(
                        store, conn.id, [user(i) for i in range(start, min(start + 1000, args.events + 1))]
                    )
                queue_s = time.perf_counter() - queued
                server_before = _server_cpu(store)
                trips = _Trips(store)
                cpu_before = _cpu_self()
                started = time.perf_counter()
                stats = asyncio.run(run_dispatcher(store, settings=settings, keeper=keeper, until_idle=True))
                arrivals.wait_for(args.events)
                elapsed = time.perf_counter() - started
                cpu_ms = (_cpu_self() - cpu_before) * 1000 / args.events
                statements, commits = trips.statements / args.events, trips.commits / args.events
                server_after = _server_cpu(store)
                server_ms = None
                if server_before and server_after:
                    # Server processes that ended meanwhile are not counted (the pool keeps them).
                    spent = sum(t - server_before.get(pid, 0.0) for pid, t in server_after.items())
                    server_ms = spent * 1000 / args.events
                per_second = args.events / elapsed
                delays = asyncio.run(
                    _latency(
                        store,
                        conn.id,
                        arrivals,
                        settings,
                        keeper,
                        events=args.latency_events,
                        rate=args.rate,
                        batch=args.batch,
                        first_id=args.events + 1,
                    )
                )
                counts = WebhookStore(store).count_deliveries()
    finally:
        receiver.terminate()
        receiver.wait(15)
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    load = os.getloadavg()[0]
    print(
        f"queued {args.events} events in {queue_s:.2f} s; delivered {stats.delivered} in {elapsed:.2f} s: "
        f"{per_second:.0f}/s (target >= {THROUGHPUT_TARGET:.0f}/s)"
    )
    print(
        f"commit to delivery over {len(delays)} changes at {args.rate:.0f}/s: p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms (target p99 <= {P99_TARGET_S:.1f} s)"
    )
    server = "" if server_ms is None else f", PostgreSQL server CPU {server_ms:.2f} ms"
    print(
        f"per delivery: dispatcher CPU {cpu_ms:.2f} ms{server}; "
        f"{statements:.3f} statements, {commits:.3f} commits"
    )
    print(f"plain httpx POSTs to the same receiver, same concurrency: {baseline:.0f}/s (for comparison, now)")
    print(f"deliveries by status: {counts}; load average {load:.2f}")
    print(
        json.dumps(
            {
                "benchmark": "webhooks",
                "database": "postgresql"
                if args.database_url and "postgres" in args.database_url
                else "sqlite",
                "events": args.events,
                "deliveries_per_s": round(per_second, 1),
                "throughput_target_per_s": THROUGHPUT_TARGET,
                "dispatcher_cpu_ms_per_delivery": round(cpu_ms, 3),
                "server_cpu_ms_per_delivery": None if server_ms is None else round(server_ms, 3),
                "statements_per_delivery": round(statements, 4),
                "commits_per_delivery": round(commits, 4),
                "plain_httpx_per_s": round(baseline, 1),
                "latency_events": len(delays),
                "latency_rate_per_s": args.rate,
                "latency_p50_s": round(p50, 4),
                "latency_p99_s": round(p99, 4),
                "latency_max_s": round(delays[-1], 4),
                "latency_p99_target_s": P99_TARGET_S,
                "ok": per_second >= THROUGHPUT_TARGET and p99 <= P99_TARGET_S,
                "load_average": round(load, 2),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
