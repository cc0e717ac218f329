"""Bulk building without the cycle collector's full passes, and without touching other threads.

Seeding 100,000 users leaves about 1.1 million small container objects alive (users, rates,
assignments, time entries and the lists that index them); loading or snapshotting a state builds
as many rows. While they pile up, the collector runs a full pass each time the surviving objects
grow by a quarter: some eight passes over an ever larger heap, about 2 s of a 4 s seed, all for
nothing, since none of these objects form cycles.

The collector's switch is process-wide, though, and the sandbox often runs in a thread beside the
tests or the demo: turning it off there would pause collection for them too, and turning it back
on could override a thread that turned it off for its own reasons. So ``collector_paused`` pauses
it only when the calling thread is the only Python thread: then nothing else can allocate, or
start a thread, until the block ends. Beside other threads the block runs with the collector as
it is (slower for a large account, never wrong). A collector someone else turned off stays off.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cycle collector for the block if this is the process's only thread."""
    if not gc.isenabled() or threading.active_count() != 1:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
