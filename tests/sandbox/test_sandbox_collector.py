"""The sandbox's bulk paths (seed, snapshot, restore, state files) pause the cycle collector only
when the calling thread is alone, so a sandbox in a thread beside tests never switches it off."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from thresher.sandbox import Sandbox, SandboxConfig
from thresher.sandbox._collector import collector_paused


@pytest.fixture
def other_thread() -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="beside-the-sandbox")
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join()


def test_collector_keeps_running_beside_another_thread(other_thread: threading.Thread) -> None:
    assert gc.isenabled()
    with collector_paused():
        assert gc.isenabled()
    assert gc.isenabled()


def test_bulk_paths_beside_another_thread_never_switch_the_collector(other_thread: threading.Thread) -> None:
    runs: list[bool] = []

    def probe(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(gc.isenabled())

    gc.callbacks.append(probe)
    try:
        sandbox = Sandbox(SandboxConfig(users=3000, seed=3))
        sandbox.restore(sandbox.snapshot())
    finally:
        gc.callbacks.remove(probe)
    assert gc.isenabled()
    # Seeding 3,000 users and restoring them builds some 100,000 records and rows: the young
    # generation's pass runs about every 700 of them (over 200 times); paused, a few times at most.
    assert len(runs) > 50


def test_a_collector_switched_off_by_someone_else_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        Sandbox(SandboxConfig(users=50, seed=1))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_thread_alone_pauses_the_collector_for_the_block_only() -> None:
    script = textwrap.dedent("""
        import gc, threading
        from thresher.sandbox._collector import collector_paused
        from thresher.sandbox import Sandbox, SandboxConfig
        assert threading.active_count() == 1
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
        sandbox = Sandbox(SandboxConfig(users=50, seed=1))
        sandbox.restore(sandbox.snapshot())
        assert gc.isenabled()
        print("ok")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=os.environ.copy(), check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
