"""Workers at scale: 1,000 connections of 50 users each on one multi-account sandbox, 2
``thresher worker`` processes on one PostgreSQL store, a 60 s interval (issue 17).

The sandbox serves every account from one process of its own (``thresher sandbox serve
--accounts N``, ``_external.py``); the connections are made through ``thresher.jobs.
create_connection`` (PATs, sealed) in a database made for the run and dropped after it. After
warm-up (every connection synced once), the store is sampled every 5 s for the age of each
connection's last good sync (the start of its last ``ok`` run, as ``thresher serve``'s status
reports lag), after a settling interval in which the warm-up backlog drains. Reported: the share
of (sample, connection) pairs fresher than the interval (target >= 0.99), the lowest share of
any sample, each worker's CPU as a share of one core, and the most database connections the run
held (``pg_stat_activity``).

    python bench/scale.py                                   # 1000 x 50, 2 workers, 60 s, 180 s
    python bench/scale.py --connections 200 --duration 120  # a smaller shape (docs/scale-out.md)

Needs PostgreSQL: ``--database-url`` or ``THRESHER_TEST_DATABASE_URL``. Last line: JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from _external import external_sandbox

UA = "thresher-bench (bench@example.com)"
SECRET = "thresher-bench-scale-secret"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _database(base: str) -> Any:
    url = make_url(base).set(drivername="postgresql+psycopg")
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"thresher_bench_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False), name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_LAST_OK = text("SELECT connection_id, max(started_at) FROM serve_runs WHERE outcome = 'ok' GROUP BY 1")
_NOW = text("SELECT now()")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="jobs at once per worker")
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--duration", type=float, default=180.0, help="measured seconds after warm-up")
    parser.add_argument("--tick", type=int, default=5)
    parser.add_argument(
        "--settle", type=float, default=None,
        help="seconds between the first syncs and the measurement (default: one interval), so the "
        "warm-up backlog has drained and every connection is on its own cadence",
    )
    parser.add_argument("--database-url", default=os.environ.get("THRESHER_TEST_DATABASE_URL"))
    args = parser.parse_args()
    if not args.database_url:
        sys.exit("needs PostgreSQL: --database-url or THRESHER_TEST_DATABASE_URL")
    os.environ["THRESHER_SECRET_KEY"] = SECRET

    from thresher.jobs import create_connection
    from thresher.store import Store

    sandbox_args = ("--accounts", str(args.connections), "--users-per-account", str(args.users))
    with external_sandbox(*sandbox_args, timeout=600) as creds, _database(args.database_url) as (url, db):
        print(f"sandbox: {args.connections} accounts x {args.users} users at {creds['api_url']}")
        store = Store.open(url)
        started = time.perf_counter()
        for account in creds["accounts"]:
            create_connection(
                store, f"customer-{account['account_id']}", account_id=account["account_id"],
                token=account["admin_token"], base_url=creds["api_url"], id_url=creds["id_url"],
                user_agent=UA, interval_s=args.interval,
            )
        print(f"{args.connections} connections made in {time.perf_counter() - started:.1f} s")
        env = {
            **os.environ, "THRESHER_DATABASE_URL": url, "THRESHER_JOBS_TICK": str(args.tick),
            "PYTHONUNBUFFERED": "1",
        }
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "thresher", "worker", "--concurrency", str(args.concurrency)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        max_db = 0

        def sample() -> tuple[list[float], int]:
            with store.engine.connect() as conn:
                now = conn.execute(_NOW).scalar_one()
                ages = [(now - at).total_seconds() for _, at in conn.execute(_LAST_OK)]
                used = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db"), {"db": db}
                ).scalar_one()
            return ages, int(used)

        try:
            warm_start = time.perf_counter()
            while True:
                ages, used = sample()
                max_db = max(max_db, used)
                if len(ages) >= args.connections:
                    break
                if any(w.poll() is not None for w in workers):
                    sys.exit("a worker exited during warm-up")
                if time.perf_counter() - warm_start > max(600.0, 10 * args.interval):
                    sys.exit(f"warm-up: only {len(ages)} of {args.connections} connections synced")
                time.sleep(2)
            warmup = time.perf_counter() - warm_start
            print(f"warm-up: every connection synced once in {warmup:.1f} s")
            settle = args.interval if args.settle is None else args.settle
            time.sleep(settle)
            cpu0 = [_cpu_seconds(w.pid) for w in workers]
            t0 = time.perf_counter()
            fresh = total = 0
            lowest = 1.0
            worst_age = 0.0
            while time.perf_counter() - t0 < args.duration:
                time.sleep(5)
                ages, used = sample()
                max_db = max(max_db, used)
                ok = sum(1 for a in ages if a < args.interval)
                fresh += ok
                total += args.connections
                lowest = min(lowest, ok / args.connections)
                print(f"  t={time.perf_counter() - t0:5.0f} s  fresh {ok / args.connections:.3f}  "
                      f"oldest {max(ages):.1f} s  db connections {used}", flush=True)
                worst_age = max([worst_age, *ages])
            window = time.perf_counter() - t0
            cpu = [(_cpu_seconds(w.pid) - c) / window for w, c in zip(workers, cpu0, strict=True)]
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                try:
                    w.wait(60)
                except subprocess.TimeoutExpired:
                    w.kill()
            store.close()
    share = fresh / total if total else 0.0
    load = os.getloadavg()[0]
    print(f"window {window:.0f} s: {share:.4f} of connection-samples fresher than {args.interval:g} s "
          f"(lowest sample {lowest:.4f}, oldest {worst_age:.1f} s); worker CPU "
          f"{', '.join(f'{c:.1%}' for c in cpu)} of one core; at most {max_db} database connections; "
          f"load average {load:.2f}")
    print(json.dumps({
        "connections": args.connections, "users": args.users, "workers": args.workers,
        "concurrency": args.concurrency, "interval_s": args.interval, "window_s": round(window, 1),
        "warmup_s": round(warmup, 1), "settle_s": settle, "fresh_share": round(share, 4),
        "lowest_share": round(lowest, 4),
        "oldest_age_s": round(worst_age, 1), "worker_cpu_share": [round(c, 3) for c in cpu],
        "max_db_connections": max_db, "load_average": round(load, 2),
    }))


if __name__ == "__main__":
    main()
