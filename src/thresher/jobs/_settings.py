"""The workers' settings: one object, built from ``THRESHER_JOBS_*`` by the CLI (docs/scale-out.md).

Per-connection choices (interval, reconcile, teammates, pause) live in the store
(``ConnectionSettingsStore``); these are the deployment's knobs, the same for every worker.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from ._errors import JobsConfigError

__all__ = ["QUEUES", "JobsSettings"]

#: The queues: ``schedule`` (the periodic passes), ``sync``, ``tokens``, ``applies`` and
#: ``webhooks`` (deliveries, one job per subscription at a time).
QUEUES = ("schedule", "sync", "tokens", "applies", "webhooks")
_ENV = "THRESHER_JOBS_"
# A cron field of seconds (croniter's sixth) needs a step that divides a minute.
_TICKS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
_INTEGERS = ("tick", "page_size", "max_attempts", "webhook_in_flight")


@dataclasses.dataclass(frozen=True)
class JobsSettings:
    #: Seconds between scheduling passes (defers due syncs, recovers stalled jobs).
    tick: int = 5
    #: The sync run lease (thresher.sync): how long a run that froze on another machine keeps
    #: others out; a killed process on the same machine is noticed at once.
    lease_ttl: float = 30.0
    #: Seconds between a worker's heartbeats in procrastinate's table.
    heartbeat: float = 5.0
    #: A job whose worker sent no heartbeat for this long is retried by the next pass.
    stalled_after: float = 20.0
    #: The most one sync job works before it yields its worker slot and re-defers itself, so a
    #: connection that is far behind never holds a slot for long (its pages stay committed).
    max_run_s: float = 120.0
    #: Refresh OAuth tokens this long before they expire.
    refresh_ahead: float = 3600.0
    #: Users per page (None: Harvest's maximum); small pages make runs resumable at a finer grain.
    page_size: int | None = None
    #: Attempts of a failing job (with exponential backoff) before it is left failed.
    max_attempts: int = 5
    #: Seconds between a worker's looks for runnable jobs besides the queue's notifications: a
    #: job that waited for a lock (a subscription's next delivery job, a connection's next
    #: sync) becomes runnable with no notification, and procrastinate's own default is 5 s.
    poll_interval: float = 0.5
    #: Webhook deliveries of one subscription under way at once in its job (also the most a
    #: killed worker can leave sent but unrecorded: sent again, same webhook-id).
    webhook_in_flight: int = 64
    #: How long a delivery claimed by a job that died stays claimed before another sends it.
    webhook_claim_ttl: float = 60.0
    #: Seconds a webhook receiver has to answer.
    webhook_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.tick not in _TICKS:
            raise JobsConfigError(
                f"the scheduling tick must divide a minute ({', '.join(map(str, _TICKS))} s), "
                f"not {self.tick}",
                hint=f"Set {_ENV}TICK to one of those, e.g. 5.",
            )
        for name in ("lease_ttl", "heartbeat", "stalled_after", "max_run_s", "webhook_claim_ttl",
                     "webhook_timeout", "webhook_in_flight", "poll_interval"):
            if not getattr(self, name) > 0:
                raise JobsConfigError(f"{name} must be a positive number of seconds")
        if self.stalled_after <= self.heartbeat:
            raise JobsConfigError(
                "stalled_after must be longer than the heartbeat, or live workers look stalled",
                hint=f"Set {_ENV}STALLED_AFTER to a few heartbeats ({_ENV}HEARTBEAT).",
            )

    @property
    def lead(self) -> float:
        """How much earlier than its interval a sync is made due: the tick a pass may wait plus
        a little queueing, so a connection's data is never older than its interval."""
        return 2.0 * self.tick + 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobsSettings:
        """``THRESHER_JOBS_TICK``, ``..._LEASE_TTL``, ``..._HEARTBEAT``, ``..._STALLED_AFTER``,
        ``..._MAX_RUN_S``, ``..._REFRESH_AHEAD``, ``..._PAGE_SIZE``, ``..._MAX_ATTEMPTS``,
        ``..._POLL_INTERVAL``, ``..._WEBHOOK_IN_FLIGHT``, ``..._WEBHOOK_CLAIM_TTL``,
        ``..._WEBHOOK_TIMEOUT``."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(_ENV + field.name.upper(), "").strip()
            if not raw:
                continue
            try:
                values[field.name] = (
                    int(raw) if field.name in _INTEGERS else float(raw)
                )
            except ValueError:
                raise JobsConfigError(
                    f"{_ENV}{field.name.upper()}={raw!r} is not a number",
                    hint="Unset it for the default, or give a number.",
                ) from None
        return cls(**values)  # type: ignore[arg-type]
