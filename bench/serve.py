"""``thresher serve`` under the issue's load: 10 connections of 2,000 users, a 30 s interval.

Ten sandboxes run in processes of their own (``_external.py``), each an account of 2,000 users
at Harvest's rate limit; ``thresher serve`` runs as a subprocess on a SQLite store with the ten
connections saved (PATs, sealed). A few users change in every account each interval. Measured
after every connection's first full sync: the worst lag each connection reached (age of its last
good sync, read from /api/v1/status every 2 s), and the serve process's CPU time over the window
as a share of one core. Goal: every lag < 35 s with < 25 % of one core on average.

    python bench/serve.py                 # 10 x 2000, 30 s interval, 180 s measured
    python bench/serve.py --duration 90   # a shorter run (still three intervals)

Last line: JSON with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from _external import external_sandbox

_URL = re.compile(r"thresher serve on (http://127\.0\.0\.1:\d+)")
UA = "thresher-bench (bench@example.com)"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=180.0)
    args = parser.parse_args()

    from thresher.connections import Credentials, SecretBox, save_connection
    from thresher.harvest import HarvestSettings
    from thresher.serve import AdminAuth
    from thresher.store import ServeRecords, Store

    key = secrets.token_urlsafe(32)
    os.environ["THRESHER_SECRET_KEY"] = key
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="thresher-bench-serve-"))
        url = f"sqlite:///{Path(tmp) / 'serve.db'}"
        sandboxes = [
            stack.enter_context(external_sandbox("--users", str(args.users), "--seed", str(i + 1)))
            for i in range(args.connections)
        ]
        with Store.open(url) as store:
            box = SecretBox.from_env()
            for i, creds in enumerate(sandboxes):
                settings = HarvestSettings(
                    access_token=creds["admin_token"], account_id=creds["account_id"], user_agent=UA,
                    base_url=creds["api_url"], id_url=creds["id_url"],
                )
                save_connection(store, f"acct{i:02d}", settings,
                                Credentials(kind="pat", access_token=creds["admin_token"], user_agent=UA),
                                box=box)
            _, token = AdminAuth(ServeRecords(store)).create_token("bench")
        env = {**os.environ, "THRESHER_DATABASE_URL": url, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}
        env = {k: v for k, v in env.items() if not k.startswith("HARVEST_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "thresher", "serve", "--port", "0", "--log-level", "warning",
             "--sync-interval", str(args.interval)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        stack.callback(lambda: proc.poll() is None and proc.kill())
        assert proc.stdout is not None
        base, seen = None, []
        for line in proc.stdout:
            seen.append(line)
            match = _URL.search(line)
            if match:
                base = match.group(1)
                break
        if base is None:
            raise SystemExit("thresher serve did not start:\n" + "".join(seen))
        api = stack.enter_context(httpx.Client(base_url=base, timeout=30,
                                               headers={"Authorization": f"Bearer {token}"}))

        def status() -> list[dict[str, Any]]:
            connections: list[dict[str, Any]] = api.get("/api/v1/status").json()["connections"]
            return connections

        started = time.monotonic()
        while not all(c["last_good_sync_at"] for c in status()):
            if time.monotonic() - started > 600:
                raise SystemExit("the first full syncs did not finish within 600 s")
            time.sleep(1)
        first_syncs = time.monotonic() - started
        print(f"first full syncs of {args.connections} x {args.users} users: {first_syncs:.1f} s")

        writers = [
            httpx.Client(base_url=c["api_url"], timeout=30, headers={
                "Authorization": f"Bearer {c['admin_token']}", "Harvest-Account-Id": str(c["account_id"]),
                "User-Agent": UA})
            for c in sandboxes
        ]
        ids = [
            [u["id"] for u in w.get("/users", params={"per_page": 20}).json()["users"][1:]] for w in writers
        ]
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        worst: dict[str, float] = {}
        edits = 0
        next_edit = t0
        while time.monotonic() - t0 < args.duration:
            now = time.monotonic()
            if now >= next_edit:  # a few edits per account and interval, like people at work
                for w, some in zip(writers, ids, strict=True):
                    w.patch(f"/users/{some[edits % len(some)]}", json={"telephone": f"+1 555 {edits:04d}"})
                edits += 1
                next_edit = now + args.interval / 3
            for c in status():
                if c["lag_s"] is not None:
                    worst[c["name"]] = max(worst.get(c["name"], 0.0), c["lag_s"])
            time.sleep(2)
        cpu = _cpu_seconds(proc.pid) - cpu0
        window = time.monotonic() - t0
        for w in writers:
            w.close()
        proc.terminate()
        code = proc.wait(60)

    share = cpu / window
    max_lag = max(worst.values()) if worst else None
    print(f"window {window:.0f} s: serve used {cpu:.1f} s CPU ({share:.1%} of one core); "
          f"worst lag {max_lag:.1f} s over {len(worst)} connections; exit code {code}")
    ok = max_lag is not None and max_lag < 35 and share < 0.25
    print(json.dumps({
        "benchmark": "serve", "connections": args.connections, "users_per_connection": args.users,
        "interval_s": args.interval, "window_s": round(window, 1), "first_syncs_s": round(first_syncs, 1),
        "cpu_s": round(cpu, 2), "cpu_share_of_one_core": round(share, 4),
        "max_lag_s": round(max_lag, 1) if max_lag is not None else None,
        "lag_by_connection": {k: round(v, 1) for k, v in sorted(worst.items())},
        "edits_per_account": edits, "sigterm_exit_code": code, "load_avg_1m": os.getloadavg()[0],
        "goal_met": ok,
    }))


if __name__ == "__main__":
    main()
