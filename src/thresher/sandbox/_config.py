"""``SandboxConfig``: every knob of the sandbox, as one frozen object passed in
(docs/architecture.md, house style 5).

Defaults follow docs/harvest-api.md; where docs/harvest-api.md marks a behaviour [U] (uncertain), the
default is the one its §10 suggests and the field says so, so a test can flip it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Literal

from ..harvest import is_harvest_timezone
from ._duration import parse_duration
from ._errors import SandboxConfigError
from ._faults import FaultConfig

__all__ = ["RateLimitScope", "RateLimitWindow", "SandboxConfig"]

RateLimitScope = Literal["account", "token"]
RateLimitWindow = Literal["sliding", "fixed"]

#: §5.2: access tokens from the token endpoint live 14 days (``expires_in`` 1209600).
HARVEST_TOKEN_TTL = 1_209_600
#: §3: per_page is 1..2000 and defaults to the maximum.
MAX_PER_PAGE = 2000


_HUNDRED_YEARS = 100 * 366 * 86400
#: name -> (minimum, maximum, integer only, None allowed).
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "users": (3, 10_000_000, True, False),
    "seed": (-(2**63), 2**63 - 1, True, False),
    "account_id": (1, 2**63 - 1, True, True),
    "forecast_account_id": (1, 2**63 - 1, True, True),
    "id_base": (0, 2**62, True, False),
    "token_ttl_seconds": (1, _HUNDRED_YEARS, True, False),
    "refresh_token_ttl_seconds": (1, _HUNDRED_YEARS, True, True),
    "authorization_code_ttl_seconds": (1, _HUNDRED_YEARS, True, False),
    "time_scale": (1e-6, 1e6, False, False),
    "latency_ms": (0, 600_000, False, False),
    "request_log_size": (0, 10_000_000, True, False),
    "seat_limit": (1, 10_000_000, True, True),
    "default_new_user_rate": (0, 1e12, False, True),
    "max_body_bytes": (1, 2**31 - 1, True, False),
    "outbox_size": (0, 10_000_000, True, False),
}
_FLAGS = ("rename_while_restoring", "create_unknown_roles", "implicit_grant_in_query",
          "rotate_refresh_tokens")
_TEXTS = ("company_timezone", "seed_epoch", "oauth_redirect_uri", "duplicate_email_message",
          "forbidden_message")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """How a ``Sandbox`` is seeded and how it behaves.

    Tokens, the OAuth client and the account ids are derived from ``seed`` when left ``None``, so
    the same config always yields the same credentials.
    """

    # -- data -----------------------------------------------------------------------------------
    #: Users in the generated account (at least 3: an administrator, a manager with teammates and
    #: a member own the three personal access tokens).
    users: int = 25
    seed: int = 1
    account_id: int | None = None
    forecast_account_id: int | None = None
    company_name: str | None = None
    #: §6.4: a create without ``timezone`` takes the company's zone.
    company_timezone: str = "Eastern Time (US & Canada)"
    #: Generated timestamps lie before this instant, so a seed gives the same data on any day.
    seed_epoch: str = "2025-01-01T00:00:00Z"
    #: Added to every generated id; set above 2**31 to exercise 64-bit ids (§8.12).
    id_base: int = 0
    #: JSON state file: loaded at start when it exists, written after changes and at shutdown.
    state_file: str | Path | None = None

    # -- credentials ----------------------------------------------------------------------------
    admin_token: str | None = None
    manager_token: str | None = None
    member_token: str | None = None
    control_token: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_redirect_uri: str = "http://127.0.0.1:8910/oauth/callback"
    #: §5.2: ``expires_in`` of OAuth access tokens.
    token_ttl_seconds: int = HARVEST_TOKEN_TTL
    #: §5.2 and §10 [U]: refresh-token lifetime is undocumented; None means they never expire.
    refresh_token_ttl_seconds: int | None = None
    authorization_code_ttl_seconds: int = 600
    #: §5.2 and §10: a used refresh token keeps working (two production connectors rely on it); True
    #: makes refresh tokens single use, so a refresh invalidates the one it was given.
    rotate_refresh_tokens: bool = False
    #: §5.2 [U]: the docs put implicit-grant values in the URL fragment; Harvest's own sample app
    #: reads them from the query string. True puts them in the query.
    implicit_grant_in_query: bool = False

    # -- traffic --------------------------------------------------------------------------------
    #: §4: "100/15s" (requests per window); None turns the limit off.
    rate_limit: str | None = "100/15s"
    #: §4 and §10 [U]: v1 counted per account; "token" counts each token on its own.
    rate_limit_scope: RateLimitScope = "account"
    rate_limit_window: RateLimitWindow = "sliding"
    #: Multiplies rate-limit windows: 0.1 turns 100 per 15 s into 100 per 1.5 s.
    time_scale: float = 1.0
    #: Added before every API and identity answer.
    latency_ms: float = 0.0
    #: A faults spec string (see ``thresher.sandbox``) or a ``FaultConfig``; None for none.
    faults: str | FaultConfig | None = None
    request_log_size: int = 10_000
    #: §4: the Reports API (``/v2/reports/...``) has its own, lower limit; None turns it off.
    reports_rate_limit: str | None = "100/15min"
    #: Request bodies above this many bytes answer 413 before authentication, and nothing past
    #: the limit is read (Harvest sits behind Cloudflare, §1, which caps bodies too).
    max_body_bytes: int = 1_000_000
    #: The outbox keeps the newest invitations; older ones are dropped and counted.
    outbox_size: int = 10_000

    # -- [U] behaviours (§8, §10) -------------------------------------------------------------
    #: §8.4 and §10: seats cap *active* users; None (the default) means no cap.
    seat_limit: int | None = None
    #: §8.2 and §10: the 422 text for a duplicate email; must include the email.
    duplicate_email_message: str = "Email has already been taken ({email})"
    #: §10: no 403 body was ever seen; the default is a Rails-style message.
    forbidden_message: str = "You do not have permission to perform this action."
    #: §8.3 [U]: whether ``is_active: true`` in the same PATCH lets an archived user's name or
    #: email change. False (the default) demands a reactivation first, the safe assumption.
    rename_while_restoring: bool = False
    #: §7.5 [U]: whether a user PATCH or create naming an unknown role creates it (else 422).
    create_unknown_roles: bool = True
    #: Gotcha 11: 2019 traffic shows null rates for users created without one; the docs say 0.
    #: ``default_hourly_rate``/``cost_rate`` of a user created without them.
    default_new_user_rate: float | None = None

    def __post_init__(self) -> None:
        self._check_types()
        if self.users < 3:
            raise SandboxConfigError(
                f"users must be at least 3, got {self.users}",
                hint="The administrator, the manager and the member owning the tokens are users.",
            )
        if not is_harvest_timezone(self.company_timezone):
            raise SandboxConfigError(f"company_timezone {self.company_timezone!r} is not a Harvest zone")
        if "{email}" not in self.duplicate_email_message:
            raise SandboxConfigError("duplicate_email_message must contain {email} (§8.2)")
        self.parse_rate_limit(self.rate_limit)  # fail at construction, not at the first request
        self.parse_rate_limit(self.reports_rate_limit)
        FaultConfig.coerce(self.faults)

    def _check_types(self) -> None:
        """Every number within a range the sandbox can serve with (a latency of 1e300 seconds or
        a NaN time scale would break every later request), and every flag a real bool."""
        for name, (low, high, integral, optional) in _RANGES.items():
            value = getattr(self, name)
            if value is None and optional:
                continue
            kind = int if integral else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                raise SandboxConfigError(
                    f"{name} must be {'an integer' if integral else 'a number'}"
                    f"{' or null' if optional else ''}, got {value!r}"
                )
            if not low <= value <= high:
                raise SandboxConfigError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise SandboxConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in _TEXTS:
            if not isinstance(getattr(self, name), str):
                raise SandboxConfigError(f"{name} must be a string, got {getattr(self, name)!r}")
        for name in ("rate_limit", "reports_rate_limit"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise SandboxConfigError(f"{name} must be a string such as 100/15s, or null")
        if self.rate_limit_scope not in ("account", "token"):
            raise SandboxConfigError(
                f"rate_limit_scope must be account or token, got {self.rate_limit_scope!r}"
            )
        if self.rate_limit_window not in ("sliding", "fixed"):
            raise SandboxConfigError(
                f"rate_limit_window must be sliding or fixed, got {self.rate_limit_window!r}"
            )

    @staticmethod
    def parse_rate_limit(spec: str | None) -> tuple[int, float] | None:
        """``"100/15s"`` -> ``(100, 15.0)``; ``"100/1.5s"``, ``"100/15min"``, ``"5/200ms"`` work
        too; None, ``""``, ``"off"`` or ``"none"`` -> None (no limit)."""
        if spec is None or spec.strip().lower() in ("", "off", "none"):
            return None
        count, sep, window = spec.partition("/")
        if not sep or not count.strip().isdigit() or int(count) < 1:
            raise SandboxConfigError(
                f"rate limit {spec!r} is not REQUESTS/WINDOW",
                hint="For example 100/15s (Harvest's limit), 100/1.5s, or off.",
            )
        return int(count), parse_duration(window)

    @property
    def reports_rate_limit_rule(self) -> tuple[int, float] | None:
        """§4: the Reports API's limit as (requests, window seconds), ``time_scale`` applied."""
        rule = self.parse_rate_limit(self.reports_rate_limit)
        return None if rule is None else (rule[0], rule[1] * self.time_scale)

    @property
    def rate_limit_rule(self) -> tuple[int, float] | None:
        """The limit as (requests, window seconds) with ``time_scale`` applied, or None."""
        rule = self.parse_rate_limit(self.rate_limit)
        return None if rule is None else (rule[0], rule[1] * self.time_scale)
