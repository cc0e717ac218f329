"""How a dispatcher behaves: its retry schedule, limits and timeouts, in one object passed in."""

from __future__ import annotations

import dataclasses
import random

__all__ = ["DEFAULT_RETRY_SCHEDULE", "DispatchSettings"]

_MINUTE = 60.0
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

#: Seconds to wait before each retry: quick ones for a blip, then hours apart, about 3 days in
#: all (sum: 2 days 22 hours), after which the delivery is dead-lettered.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (
    5.0,
    30.0,
    2 * _MINUTE,
    10 * _MINUTE,
    30 * _MINUTE,
    _HOUR,
    2 * _HOUR,
    4 * _HOUR,
    8 * _HOUR,
    12 * _HOUR,
    12 * _HOUR,
    12 * _HOUR,
    12 * _HOUR,
    12 * _HOUR,
)


@dataclasses.dataclass(frozen=True)
class DispatchSettings:
    """Tune a dispatcher. Tests shrink ``retry_schedule`` and ``disable_after`` to seconds rather
    than waiting days (the schedule is the clock's only use)."""

    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    #: Each wait is scaled by a random factor in [1 - jitter, 1 + jitter].
    jitter: float = 0.2
    #: The longest ``Retry-After`` honoured; longer answers wait this long.
    max_retry_after: float = _DAY
    #: Seconds a receiver has to answer (connect, send, read).
    timeout: float = 10.0
    #: Deliveries claimed and not yet recorded, at most: also the most a crash can send twice.
    max_in_flight: int = 64
    #: Requests open to one host at once.
    per_host: int = 8
    #: The longest wait between looks for due deliveries when idle.
    poll_interval: float = 0.1
    #: How long a claim holds without renewal (renewed every third of it while sending).
    claim_ttl: float = 60.0
    #: The SQLite dispatcher lease's time to live (renewed every third of it).
    lease_ttl: float = 30.0
    #: A subscription whose deliveries all failed for this long is disabled.
    disable_after: float = 5 * _DAY
    #: Attempts (request and response, truncated) are kept this long.
    log_retention: float = 14 * _DAY
    #: Bytes of each request and response body kept in the attempt log.
    log_body_limit: int = 2048
    user_agent: str = "thresher-webhooks/0.1"
    #: The jitter's random source (seed it for reproducible schedules).
    rng: random.Random = dataclasses.field(default_factory=random.Random, compare=False)

    def retry_delay(self, attempts: int) -> float | None:
        """The wait after the ``attempts``-th failed attempt (1-based), or None: give up."""
        if attempts > len(self.retry_schedule):
            return None
        base = self.retry_schedule[attempts - 1]
        return base * (1 + self.jitter * (2 * self.rng.random() - 1))
