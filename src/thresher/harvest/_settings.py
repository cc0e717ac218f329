"""Client configuration: one object, passed in (docs/architecture.md: no global state).

``HarvestSettings.from_env()`` is the only place the environment is read, and only when called.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import Any

from ._errors import ConfigurationError
from ._redact import mask

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_ID_URL",
    "MAX_PER_PAGE",
    "HarvestSettings",
    "merge_settings",
    "parse_rate_limit",
    "validate_user_agent",
]

DEFAULT_BASE_URL = "https://api.harvestapp.com/v2"
DEFAULT_ID_URL = "https://id.getharvest.com"
MAX_PER_PAGE = 2000  # §3: 1-2000, and the default is the maximum

_ENV = {
    "access_token": "HARVEST_ACCESS_TOKEN",
    "account_id": "HARVEST_ACCOUNT_ID",
    "user_agent": "HARVEST_USER_AGENT",
    "base_url": "HARVEST_BASE_URL",
    "id_url": "HARVEST_ID_URL",
}

#: ``HARVEST_RATE_LIMIT``: the general limit as REQUESTS/WINDOW (§4: Harvest's is 100/15s).
RATE_LIMIT_ENV = "HARVEST_RATE_LIMIT"
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|sec|m|min)?\s*$", re.IGNORECASE)
_RATE_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0}

_EMAIL = re.compile(r"[^\s@()<>,;]+@[^\s@()<>,;]+\.[^\s@()<>,;]+")
_URL = re.compile(r"https?://[^\s()<>,;]+", re.IGNORECASE)
_UA_EXAMPLE = 'HARVEST_USER_AGENT="MyApp (ops@example.com)"'


def validate_user_agent(value: str | None) -> str:
    """Check a User-Agent names an app and a contact, as Harvest requires (§1: ``AppName (email or
    URL)``); without one Harvest answers 400, and odd agents may be blocked (§1.1)."""
    if value is None or not value.strip():
        raise ConfigurationError(
            "No User-Agent is configured; Harvest requires one naming your app and a contact",
            hint=f"Set {_UA_EXAMPLE}, or pass user_agent=.",
        )
    value = value.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigurationError(
            "The User-Agent contains control characters",
            hint=f"Use a single line such as {_UA_EXAMPLE}.",
        )
    contact = _EMAIL.search(value) or _URL.search(value)
    if contact is None:
        raise ConfigurationError(
            f"The User-Agent {value!r} has no contact; Harvest wants an email address or URL in it",
            hint=f"Use the form {_UA_EXAMPLE}.",
        )
    app = value[: contact.start()] + value[contact.end():]
    if not any(c.isalnum() for c in app):
        raise ConfigurationError(
            f"The User-Agent {value!r} does not name an application",
            hint=f"Put your app's name before the contact: {_UA_EXAMPLE}.",
        )
    return value


def parse_rate_limit(spec: str) -> tuple[int, float]:
    """``"100/15s"`` -> ``(100, 15.0)``: requests per window, the window in ``ms``, ``s`` (the
    default unit) or ``min``. The same notation as ``thresher sandbox serve --rate-limit``, so a
    client can be pointed at a time-scaled sandbox (``100/1.5s``)."""
    match = _RATE.match(spec)
    window = 0.0
    if match:
        window = float(match.group(2)) * _RATE_UNITS[(match.group(3) or "s").lower()]
    if not match or int(match.group(1)) < 1 or not 0 < window < float("inf"):
        raise ConfigurationError(
            f"{RATE_LIMIT_ENV} {spec!r} is not a rate limit of the form REQUESTS/WINDOW",
            hint="For example 100/15s (Harvest's limit, the default) or 100/1.5s for a sandbox "
            "served with --rate-limit 100/1.5s.",
        )
    return int(match.group(1)), window


def _url(value: str, name: str) -> str:
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", value):
        raise ConfigurationError(
            f"{name} {value!r} is not an http(s) URL",
            hint=f"Use e.g. {DEFAULT_BASE_URL if name == 'base_url' else DEFAULT_ID_URL}.",
        )
    return value


def _positive(value: float, name: str) -> None:
    if not value > 0:
        raise ConfigurationError(f"{name} must be positive, got {value!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class HarvestSettings:
    """Everything a client needs to talk to one Harvest account.

    The rate limit (§4) is ``rate_limit`` requests per ``rate_window`` seconds, and separately
    ``reports_rate_limit`` per ``reports_rate_window`` for ``/v2/reports/...``; ``time_scale``
    multiplies both windows (0.1 turns 100 per 15 s into 100 per 1.5 s, for a time-scaled sandbox).

    ``max_in_flight`` caps the requests one client has on the wire at once. The rate limiter
    counts a request from its turn until its answer (Harvest counts it on arrival, somewhere in
    between), so every millisecond a request queues behind others on the wire is budget lost; a
    burst of 100 concurrent requests made each wait hundreds of ms (bench/ratelimit.py: 0.80 of
    the limit with no cap, 0.97 with 8). Requests beyond the cap wait before their turn, uncounted.
    Eight in flight carry 100 requests per 15 s even at 1 s latency.
    """

    access_token: str | None = dataclasses.field(default=None, repr=False)
    account_id: int | None = None
    user_agent: str
    base_url: str = DEFAULT_BASE_URL
    id_url: str = DEFAULT_ID_URL
    per_page: int = MAX_PER_PAGE
    timeout: float = 30.0
    rate_limit: int = 100
    rate_window: float = 15.0
    reports_rate_limit: int = 100
    reports_rate_window: float = 900.0
    time_scale: float = 1.0
    max_in_flight: int = 8

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, here
        set_(self, "user_agent", validate_user_agent(self.user_agent))
        set_(self, "base_url", _url(self.base_url, "base_url"))
        set_(self, "id_url", _url(self.id_url, "id_url"))
        if self.access_token is not None:
            token = self.access_token.strip()
            set_(self, "access_token", token or None)
        if self.account_id is not None:
            set_(self, "account_id", _account_id(self.account_id))
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ConfigurationError(
                f"per_page must be 1..{MAX_PER_PAGE}, got {self.per_page}",
                hint="Leave it at 2000 (Harvest's default and maximum, §3) unless testing.",
            )
        for name in ("timeout", "rate_window", "reports_rate_window", "time_scale"):
            _positive(getattr(self, name), name)
        for name in ("rate_limit", "reports_rate_limit", "max_in_flight"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be at least 1")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, /, **overrides: Any
    ) -> HarvestSettings:
        """Settings from ``HARVEST_*`` variables (``HARVEST_RATE_LIMIT``, e.g. ``100/1.5s``, sets
        ``rate_limit`` and ``rate_window``); keyword overrides win, except those set to None (so
        CLI flags that were not given can be passed straight through)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field, var in _ENV.items():
            raw = env.get(var)
            if raw is not None and raw.strip():
                values[field] = raw.strip()
        rate = env.get(RATE_LIMIT_ENV)
        if rate is not None and rate.strip():
            values["rate_limit"], values["rate_window"] = parse_rate_limit(rate)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "user_agent" not in values:
            raise ConfigurationError(
                "HARVEST_USER_AGENT is not set; Harvest requires a User-Agent naming your app and a "
                "contact",
                hint=f"export {_UA_EXAMPLE}",
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigurationError(f"Unknown setting(s): {', '.join(unknown)}")
        return cls(**values)

    @property
    def window(self) -> float:
        """The general rate-limit window in seconds, after ``time_scale``."""
        return self.rate_window * self.time_scale

    @property
    def reports_window(self) -> float:
        return self.reports_rate_window * self.time_scale

    def replace(self, **changes: Any) -> HarvestSettings:
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr
        )
        return f"HarvestSettings(access_token={mask(self.access_token)}, {shown})"


def _account_id(value: object) -> int:
    if isinstance(value, bool):
        value = str(value)
    try:
        account_id = int(str(value).strip())
    except ValueError:
        account_id = 0
    if account_id <= 0:
        raise ConfigurationError(
            f"The account id {value!r} is not a positive integer",
            hint="HARVEST_ACCOUNT_ID is the number shown next to the account at "
            "https://id.getharvest.com/developers (or from list_accounts()).",
        )
    return account_id


def merge_settings(settings: HarvestSettings | None, **overrides: Any) -> HarvestSettings:
    """``settings`` (or the defaults) with the overrides that are not None: a client's keywords
    left out keep the value they would have had."""
    given = {name: value for name, value in overrides.items() if value is not None}
    if settings is None:
        given.setdefault("user_agent", None)  # refused with a hint rather than a TypeError
        return HarvestSettings(**given)
    return settings.replace(**given) if given else settings
