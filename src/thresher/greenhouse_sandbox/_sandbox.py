"""The sandbox without its app: configuration, state, clock, rate windows, faults and the request log
behind one lock; the app (``_app.py``) reaches everything through it."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from typing import Any, Literal

from thresher.greenhouse import parse_rate_limit
from thresher.sandbox import FaultConfig, FaultInjector

from ._errors import GreenhouseSandboxError
from ._state import Credential, GreenhouseState, seed_state

__all__ = ["GreenhouseSandboxConfig", "RateWindows", "SandboxCore"]

ExpiryField = Literal["expires_in", "expires_at", "expires"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GreenhouseSandboxConfig:
    """``rate_limit``: REQUESTS/WINDOW per credential in fixed windows (``"75/30s"``, the docs'
    example), or None. ``expiry_field``: which of the three reported expiry fields the token
    endpoint answers with [U]. ``non_admin_lists``: what a list endpoint gives a non-Site-Admin
    ``sub``, a 403 or an empty list (sources differ [U])."""

    users: int = 25
    seed: int = 1
    rate_limit: str | None = "75/30s"
    token_ttl_seconds: float = 3600.0
    expiry_field: ExpiryField = "expires_in"
    non_admin_lists: Literal["403", "empty"] = "403"
    latency_ms: float = 0.0
    faults: str | None = None
    request_log_size: int = 1000

    def __post_init__(self) -> None:
        if self.users < 3:
            raise GreenhouseSandboxError("The Greenhouse sandbox needs at least 3 users")
        if self.rate_limit is not None and self.rate_limit.strip().lower() not in ("", "off", "none"):
            parse_rate_limit(self.rate_limit)
        if self.expiry_field not in ("expires_in", "expires_at", "expires"):
            raise GreenhouseSandboxError("expiry_field must be expires_in, expires_at or expires")
        if self.non_admin_lists not in ("403", "empty"):
            raise GreenhouseSandboxError('non_admin_lists must be "403" or "empty"')

    @property
    def limit(self) -> tuple[int, float] | None:
        text = (self.rate_limit or "").strip().lower()
        return None if text in ("", "off", "none") else parse_rate_limit(text)


class RateWindows:
    """Fixed windows per credential (docs/greenhouse.md: a fixed 30-second window): the first
    request opens a window of ``window`` seconds admitting ``limit`` requests; refused requests
    do not count. ``hit`` returns ``(allowed, remaining, reset_epoch, seconds_left)``."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (end, used), on time.time()

    def hit(self, key: str, now: float | None = None) -> tuple[bool, int, int, float]:
        t = time.time() if now is None else now
        end, used = self._windows.get(key, (0.0, 0))
        if t >= end:
            end, used = t + self.window, 0
        allowed = used < self.limit
        used += allowed
        self._windows[key] = (end, used)
        return allowed, self.limit - used, math.ceil(end), end - t


class SandboxCore:
    """Everything but the app (``_app.GreenhouseSandbox`` adds it): handlers see only this."""

    def __init__(self, config: GreenhouseSandboxConfig | None = None) -> None:
        self.config = config or GreenhouseSandboxConfig()
        self.lock = threading.RLock()
        self.clock_offset = 0.0
        self.state: GreenhouseState = seed_state(self.config.users, self.config.seed)
        self.requests: deque[dict[str, Any]] = deque(maxlen=max(1, self.config.request_log_size))
        self._request_ids = 0
        self.windows: RateWindows | None = None
        self._faults = FaultInjector(FaultConfig(), self.config.seed)
        self.apply_settings({})
        self.set_faults(self.config.faults)

    def now(self) -> float:
        """The sandbox's wall clock (token expiry); ``PUT /sandbox/clock`` moves it."""
        return time.time() + self.clock_offset

    # -- knobs ------------------------------------------------------------------------------------
    def apply_settings(self, changes: dict[str, Any]) -> None:
        """Run-time settings (``PUT /sandbox/settings``); rate windows restart."""
        allowed = {"rate_limit", "token_ttl_seconds", "expiry_field", "non_admin_lists", "latency_ms"}
        unknown = set(changes) - allowed
        if unknown:
            raise GreenhouseSandboxError(f"unknown settings: {', '.join(sorted(unknown))}")
        try:
            config = dataclasses.replace(self.config, **changes)
        except (TypeError, ValueError) as exc:
            raise GreenhouseSandboxError(f"invalid settings: {exc}") from None
        with self.lock:
            self.config = config
            limit = config.limit
            self.windows = RateWindows(*limit) if limit else None

    def set_faults(self, spec: str | None) -> FaultConfig:
        parsed = FaultConfig.coerce(spec)
        with self.lock:
            self._faults = FaultInjector(parsed, self.config.seed)
        return parsed

    @property
    def faults(self) -> FaultConfig:
        return self._faults.config

    def draw_fault(self) -> Any:
        return self._faults.draw()

    def reset(self, *, users: int | None = None, seed: int | None = None) -> None:
        with self.lock:
            self.config = dataclasses.replace(
                self.config, users=users or self.config.users, seed=self.config.seed if seed is None else seed
            )
            control = self.state.control_token  # whoever holds it keeps control
            self.state = seed_state(self.config.users, self.config.seed)
            self.state.control_token = control
            self.clock_offset = 0.0
            self.requests.clear()
            self.apply_settings({})

    def log(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self._request_ids += 1
            self.requests.append({"id": self._request_ids, **entry})

    # -- what a client needs ----------------------------------------------------------------------
    def credential(self, name: str) -> Credential:
        """A credential by name: ``"full"`` (every scope) or ``"read-only"`` (the list scopes)."""
        for credential in self.state.credentials.values():
            if credential.name == name:
                return credential
        raise GreenhouseSandboxError(f"no credential named {name!r}")

    def credentials_document(self) -> dict[str, Any]:
        s = self.state
        return {
            "credentials": [c.render() for c in s.credentials.values()],
            "site_admin_user_id": s.admin_id,
            "basic_user_id": s.basic_id,
            "service_user_id": s.service_id,
            "control_token": s.control_token,
        }
