"""The server side of docs/harvest-api.md §4: at most ``limit`` requests per ``window`` seconds.

Semantics, so a client can pace itself exactly:

* A request is counted at its **arrival** (when the sandbox starts handling it, after the
  authentication check), on the monotonic clock. Requests refused with 429 are not counted, so a
  client that waits for ``Retry-After`` is never held longer than the window.
* **Sliding** window: a request arriving at ``t`` is allowed when fewer than ``limit`` allowed
  requests arrived in the half-open interval ``(t - window, t]``. A request that arrived exactly
  ``window`` seconds ago no longer counts, so a client sending its request ``limit + 1`` exactly
  ``window`` after request 1 is served.
* **Fixed** window: time is cut into ``[k * window, (k + 1) * window)`` intervals from the
  limiter's creation; each interval admits ``limit`` requests.
* The key is the account id (the default, §10) or the token (``rate_limit_scope="token"``).
* ``Retry-After`` is whole seconds (RFC 9110 delta-seconds), rounded up and at least 1: waiting
  that long always gets the next request through.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Counts arrivals per key; ``hit`` returns None when allowed, else the seconds to wait."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        mode: str = "sliding",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.mode = mode
        self._clock = clock
        self._origin = clock()
        self._lock = threading.Lock()
        self._arrivals: dict[str, deque[float]] = {}
        self._fixed: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Count one arrival for ``key`` at ``now``; None if allowed, else seconds until allowed."""
        t = self._clock() if now is None else now
        with self._lock:
            if self.mode == "fixed":
                return self._hit_fixed(key, t)
            arrivals = self._arrivals.get(key)
            if arrivals is None:
                arrivals = self._arrivals[key] = deque()
            # ``arrival + window <= t`` rather than ``arrival <= t - window``: a client that
            # schedules its next request at ``arrival + window`` computes the same float.
            while arrivals and arrivals[0] + self.window <= t:
                arrivals.popleft()
            if len(arrivals) < self.limit:
                arrivals.append(t)
                return None
            return arrivals[0] + self.window - t

    def _hit_fixed(self, key: str, t: float) -> float | None:
        index = math.floor((t - self._origin) / self.window)
        current, count = self._fixed.get(key, (index, 0))
        if current != index:
            count = 0
        if count < self.limit:
            self._fixed[key] = (index, count + 1)
            return None
        self._fixed[key] = (index, count)
        return self._origin + (index + 1) * self.window - t

    @staticmethod
    def retry_after(seconds: float) -> str:
        """The ``Retry-After`` value for a wait of ``seconds``."""
        return str(max(1, math.ceil(seconds - 1e-9)))

    def reset(self) -> None:
        with self._lock:
            self._arrivals.clear()
            self._fixed.clear()
            self._origin = self._clock()
