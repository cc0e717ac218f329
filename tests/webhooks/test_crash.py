"""Acceptance: SIGKILL the dispatcher 20 times during a burst of 2,000 events; after a restart
every event is delivered, and duplicates stay within the in-flight limit per kill."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store.factories import user_json
from thresher.harvest import User
from thresher.store import Store, WebhookStore
from thresher.webhooks import SecretKeeper, WebhookService

from .conftest import KEY
from .receiver import Receiver

CHILD = Path(__file__).with_name("dispatch_child.py")
KILLS = 20
EVENTS = 2000
IN_FLIGHT = 16


class Zygote:
    """Forks dispatcher processes on demand (``dispatch_child.py``) and kills them with SIGKILL."""

    def __init__(self, url: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), url, str(IN_FLIGHT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def start(self) -> int:
        """A new dispatcher; returns its pid once it holds the lease and runs."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write("start\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()  # blocks until the dispatcher runs
        assert line.startswith("ready "), f"no dispatcher started: {line!r}"
        return int(line.split()[1])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.mark.slow
def test_killed_dispatchers_lose_nothing_and_duplicate_little(sqlite_url: str, receiver: Receiver) -> None:
    rng = random.Random(14)
    with Store.open(sqlite_url) as store:
        conn = store.add_connection("acme", 1001)
        WebhookService(store, keeper=SecretKeeper(KEY)).add(
            receiver.url, events=["user.created"], allow_private=True
        )
        per_kill = EVENTS // KILLS
        zygote = Zygote(sqlite_url)
        try:
            next_id = 1
            for _ in range(KILLS):
                pid = zygote.start()
                # The burst goes on while this dispatcher runs; it dies at a random moment.
                deadline = time.monotonic() + rng.uniform(0.05, 0.3)
                users = [User.model_validate(user_json(i)) for i in range(next_id, next_id + per_kill)]
                next_id += per_kill
                for chunk in range(0, per_kill, 20):
                    with store.transaction() as tx:
                        tx.apply_users(conn.id, users[chunk : chunk + 20], observed_at=users[0].created_at)
                while time.monotonic() < deadline:
                    time.sleep(0.01)
                os.kill(pid, signal.SIGKILL)
            pid = zygote.start()
            try:
                receiver.wait_for(lambda r: len(r.ids()) >= EVENTS, timeout=90)
                records = WebhookStore(store)
                receiver.wait_for(lambda _: records.count_deliveries()["delivered"] == EVENTS, timeout=30)
            finally:
                os.kill(pid, signal.SIGKILL)
        finally:
            zygote.close()
    delivered = receiver.delivered()
    duplicates = len(delivered) - len(receiver.ids())
    print(f"\n{EVENTS} events, {KILLS} kills: {duplicates} duplicate deliveries (bound {KILLS * IN_FLIGHT})")
    assert len(receiver.ids()) == EVENTS
    assert duplicates <= KILLS * IN_FLIGHT
