"""When a failed request is tried again, and after how long (tenacity does the looping).

GET, PATCH and DELETE are retried on 429, 5xx and transport errors: Harvest's PATCH sets fields
and its DELETE removes one record, so repeating either is harmless. POST is retried only when the
request certainly did not reach Harvest (connection refused, 429); after an ambiguous failure the
caller decides (see ``AsyncHarvest.create_user``), because every ``POST /v2/users`` sends an
invitation email (gotcha 1).
"""

from __future__ import annotations

import dataclasses
import logging
import random

import anyio
import tenacity

from ._errors import RateLimitedError, ServerError, TransportError

__all__ = ["RetryPolicy"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"})
_log = logging.getLogger("thresher.harvest")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """``attempts`` tries in all; before try n+1 wait ``min(cap, base * 2**(n-1))``, jittered down
    to between half and all of it so that many clients do not retry in step.

    429s wait no extra time here: the account's ``RateLimiter`` is paused by the 429 itself
    (``Retry-After``, or a jittered backoff when the header is missing), which holds this retry
    and every other caller of the account alike.
    """

    attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff_base < 0 or self.backoff_cap < 0:
            raise ValueError("attempts must be >= 1 and backoff times >= 0")

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt, no retries."""
        return cls(attempts=1)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempt - 1))
        return random.uniform(delay / 2, delay) if self.jitter else delay

    def should_retry(self, method: str, exc: BaseException) -> bool:
        if isinstance(exc, RateLimitedError):
            return True  # refused before processing: safe for every method
        if isinstance(exc, TransportError) and not exc.request_sent:
            return True  # never reached Harvest: safe for every method, POST included
        if method.upper() not in _IDEMPOTENT:
            return False
        return isinstance(exc, ServerError | TransportError)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError):
            return 0.0
        delay = self.backoff(state.attempt_number)
        if isinstance(exc, ServerError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay

    def retrying(self, method: str, path: str = "") -> tenacity.AsyncRetrying:
        """A tenacity loop for one request: ``async for attempt in policy.retrying("GET")``."""

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            _log.warning(
                "retrying %s %s after %s (attempt %d of %d) in %.2f s",
                method, path, type(exc).__name__, state.attempt_number, self.attempts, wait,
            )

        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda exc: self.should_retry(method, exc)),
            before_sleep=before_sleep,
            sleep=anyio.sleep,
            reraise=True,
        )
