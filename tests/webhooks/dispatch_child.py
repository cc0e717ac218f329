"""Dispatchers in processes of their own, for the crash test: ``python dispatch_child.py URL N``.

A zygote: it imports everything and derives the secret key once, then forks a fresh dispatcher
process for every ``start`` line on stdin (a process start costs seconds on a loaded machine;
a fork, milliseconds). Each dispatcher waits for the store's dispatcher lease (a killed
predecessor holds it until it expires), prints ``ready PID``, and dispatches until killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from thresher.connections import SecretBox
from thresher.store import Store, WebhookStore
from thresher.webhooks import DispatcherBusyError, DispatchSettings, SecretKeeper, run_dispatcher

PASSPHRASE = "webhook-tests-passphrase-not-a-real-one"


class _Ready(asyncio.Event):
    """A stop event that never fires; the dispatcher's first look at it (right after it took the
    lease) says it is running."""

    def __init__(self) -> None:
        super().__init__()
        self._said = False

    def is_set(self) -> bool:
        if not self._said:
            self._said = True
            print(f"ready {os.getpid()}", flush=True)
        return super().is_set()


def _dispatch(url: str, settings: DispatchSettings, keeper: SecretKeeper) -> None:
    store = Store.open(url)
    while True:
        try:
            asyncio.run(run_dispatcher(store, settings=settings, keeper=keeper, stop=_Ready()))
            return
        except DispatcherBusyError:
            time.sleep(0.02)


def main() -> None:
    url, in_flight = sys.argv[1], int(sys.argv[2])
    settings = DispatchSettings(
        retry_schedule=(0.05,) * 8,
        timeout=2.0,
        poll_interval=0.02,
        lease_ttl=0.3,
        claim_ttl=5.0,
        max_in_flight=in_flight,
    )
    keeper = SecretKeeper(SecretBox.from_env({"THRESHER_SECRET_KEY": PASSPHRASE}))
    with Store.open(url) as store:
        keeper.open(WebhookStore(store).list_subscriptions()[0].secret)  # the scrypt cost, paid once
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed dispatchers are reaped by the kernel
    for line in sys.stdin:
        if line.strip() != "start":
            break
        if os.fork() == 0:
            _dispatch(url, settings, keeper)
            os._exit(0)


if __name__ == "__main__":
    main()
